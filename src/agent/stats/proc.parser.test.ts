import assert from 'node:assert/strict';
import { parseNetDev, parseProcIo, parseProcStat, parseProcStatus } from './proc.parser.ts';

const STAT = '1148 (cat) R 1101 1101 20513 0 -1 4194304 100 3 7 0 25 12 0 0 20 0 4 0 997232 3133440 362 18446744073709551615 94901972402176 0 0\n';

const STATUS = 'Name:\tgrep\nUmask:\t0022\nState:\tR (running)\nVmPeak:\t    6000 kB\nVmRSS:\t    1960 kB\nThreads:\t1\n';

const IO = 'rchar: 6976\nwchar: 12\nsyscr: 10\nsyscw: 1\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n';

const NET_DEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 37929213210 109521001    0    0    0     0          0         0 37929213210 109521001    0    0    0     0       0          0
  eth0: 2052074081   64347    1    2    0     0          0         0  6205399   42269    3    4    0     0       0          0
vethab12:     100       1    0    0    0     0          0         0      200       2    0    0    0     0       0          0
  eth1:1000   10    0    0    0     0          0         0     2000      20    0    0    0     0       0          0
`;

describe('proc parsers', () => {
  describe('parseProcStat', () => {
    it('reads faults, CPU ticks, threads, start time and virtual size by proc(5) field number', () => {
      assert.deepEqual(parseProcStat(STAT), {
        comm: 'cat', minorFaults: 100, majorFaults: 7, utimeTicks: 25, stimeTicks: 12,
        numThreads: 4, startTicks: 997232, vsizeBytes: 3133440,
      });
    });
    it('takes comm up to the last parenthesis, spaces and parentheses included', () => {
      const stat = parseProcStat(STAT.replace('(cat)', '(a) b (c)'));
      assert.equal(stat?.comm, 'a) b (c');
      assert.equal(stat?.startTicks, 997232);
    });
    it('refuses a truncated or non-numeric line', () => {
      assert.equal(parseProcStat('1148 (cat) R 1101 1101'), undefined);
      assert.equal(parseProcStat(STAT.replace(' 25 12 ', ' x 12 ')), undefined);
      assert.equal(parseProcStat('garbage'), undefined);
      assert.equal(parseProcStat(''), undefined);
    });
  });

  describe('parseProcStatus', () => {
    it('reads VmRSS in bytes', () => assert.deepEqual(parseProcStatus(STATUS), { rssBytes: 1960 * 1024 }));
    it('reports 0 for a kernel thread without VmRSS', () =>
      assert.deepEqual(parseProcStatus('Name:\tkthreadd\nState:\tS (sleeping)\n'), { rssBytes: 0 }));
    it('refuses text that is not a status file or a bad value', () => {
      assert.equal(parseProcStatus('VmRSS: 12 kB\n'), undefined);
      assert.equal(parseProcStatus(STATUS.replace('1960', '-3')), undefined);
    });
  });

  describe('parseProcIo', () => {
    it('reads rchar, wchar, read_bytes and write_bytes', () =>
      assert.deepEqual(parseProcIo(IO), { rcharBytes: 6976, wcharBytes: 12, readBytes: 4096, writeBytes: 8192 }));
    it('does not mistake cancelled_write_bytes or syscw for the keys it wants', () =>
      assert.equal(parseProcIo(IO.replace('\nwrite_bytes: 8192', ''))?.writeBytes, undefined));
    it('refuses a file missing a key', () => assert.equal(parseProcIo('rchar: 1\nwchar: 2\n'), undefined));
  });

  describe('parseNetDev', () => {
    it('sums every interface but the ignored prefixes, also when a counter touches the colon', () => {
      assert.deepEqual(parseNetDev(NET_DEV, ['lo', 'v', 'docker']), {
        rxBytes: 2052074081 + 1000, rxPackets: 64347 + 10, rxErrors: 1, rxDrops: 2,
        txBytes: 6205399 + 2000, txPackets: 42269 + 20, txErrors: 3, txDrops: 4,
      });
    });
    it('keeps loopback when told to', () => {
      assert.equal(parseNetDev(NET_DEV, [])?.rxBytes, 37929213210 + 2052074081 + 100 + 1000);
    });
    it('refuses a missing header or a short line', () => {
      assert.equal(parseNetDev(NET_DEV.split('\n').slice(2).join('\n'), []), undefined);
      assert.equal(parseNetDev(`${NET_DEV}  eth9: 1 2 3\n`, []), undefined);
    });
    it('reads a namespace with no interface kept as zeros', () => {
      const onlyLo = NET_DEV.split('\n').slice(0, 3).join('\n');
      assert.equal(parseNetDev(onlyLo, ['lo'])?.rxBytes, 0);
    });
  });
});
