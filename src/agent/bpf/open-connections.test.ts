import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'mocha';
import { establishedInodes, findOpenConnections } from './open-connections.ts';

const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
const row = (sl: number, st: string, inode: number): string =>
  `   ${sl}: 0100007F:1F90 0100007F:C350 ${st} 00000000:00000000 00:00000000 00000000     0        0 ${inode} 1 0000000000000000 20 4 30 10 -1\n`;

/** A fake /proc: pids 10 and 11 share a network namespace, 12 has its own; 99 is "us". */
function fakeProc(): string {
  const proc = mkdtempSync(join(tmpdir(), 'wisp-proc-'));
  const pid = (n: number, netns: string, fds: Record<number, string>, tcp?: string, tcp6?: string): void => {
    mkdirSync(join(proc, String(n), 'fd'), { recursive: true });
    mkdirSync(join(proc, String(n), 'ns'));
    mkdirSync(join(proc, String(n), 'net'));
    symlinkSync(netns, join(proc, String(n), 'ns', 'net'));
    for (const [fd, target] of Object.entries(fds)) symlinkSync(target, join(proc, String(n), 'fd', fd));
    if (tcp !== undefined) writeFileSync(join(proc, String(n), 'net', 'tcp'), tcp);
    if (tcp6 !== undefined) writeFileSync(join(proc, String(n), 'net', 'tcp6'), tcp6);
  };
  const hostTcp = HEADER + row(0, '0A', 100) + row(1, '01', 101) + row(2, '01', 102) + row(3, '06', 103);
  pid(10, 'net:[1]', { 0: '/dev/null', 3: 'socket:[100]', 4: 'socket:[101]', 5: 'pipe:[7]', 6: 'socket:[103]' }, hostTcp, HEADER + row(0, '01', 104));
  pid(11, 'net:[1]', { 7: 'socket:[102]', 8: 'socket:[104]' }); // no tables of its own: the namespace's were read via pid 10
  pid(12, 'net:[2]', { 3: 'socket:[101]', 4: 'socket:[200]' }, HEADER + row(0, '01', 200), '');
  pid(99, 'net:[1]', { 3: 'socket:[102]' });
  mkdirSync(join(proc, 'self'));
  return proc;
}

describe('open connections at start', () => {
  it('reads the inodes of ESTABLISHED entries only', () => {
    const found = new Set<string>();
    establishedInodes(HEADER + row(0, '0A', 1) + row(1, '01', 2) + row(2, '08', 3) + row(3, '01', 0) + 'garbage\n', found);
    assert.deepEqual([...found], ['2']);
  });

  it('lists the socket fds of established connections per network namespace, not its own', () => {
    const { pairs, truncated } = findOpenConnections({ selfPid: 99, procRoot: fakeProc() });
    const listed = [];
    for (let i = 0; i < pairs.length; i += 2) listed.push(`${pairs[i]}:${pairs[i + 1]}`);
    // Inode 101 is established in namespace 1, not in 2: pid 12's fd 3 is another socket.
    assert.deepEqual(listed.sort(), ['10:4', '11:7', '11:8', '12:4']);
    assert.equal(truncated, 0);
  });

  it('stops at maxConnections and maxFds, counting what it left out', () => {
    assert.deepEqual(findOpenConnections({ selfPid: 99, procRoot: fakeProc(), maxConnections: 1 }).truncated, 3);
    // 9 fds in all (ours are not counted), whatever order /proc lists the pids in.
    assert.equal(findOpenConnections({ selfPid: 99, procRoot: fakeProc(), maxFds: 5 }).truncated, 9 - 5);
  });

  it('returns nothing, without throwing, when /proc cannot be read', () => {
    assert.equal(findOpenConnections({ selfPid: 1, procRoot: '/nonexistent' }).pairs.length, 0);
  });
});
