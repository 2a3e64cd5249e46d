// Seeded, reproducible fuzzing of the DNS message parser (through the UDP
// pairer) and of the TCP session: valid queries and responses with bytes
// replaced or the tail cut, and random bytes. Nothing may throw, every
// message that parses renders valid JSON, the pairer stays within its bound,
// and malformed messages are counted.
import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import type { DgramEvent } from '../../bpf/events.ts';
import { Direction } from '../../bpf/events.ts';
import { Counters } from '../../conn/counters.ts';
import { seededRandom } from '../../conn/test-helpers.ts';
import type { ConnectionInfo, SessionEnv } from '../protocol.ts';
import { StreamSide } from '../protocol.ts';
import { DnsDatagramPairer } from './dns-datagrams.ts';
import { DnsTcpSession } from './dns-session.ts';
import { createDnsMessage, parseDnsMessage } from './dns.parser.ts';
import { dnsMessage, DnsType, tcpFrame } from './test-helpers.ts';

const SEED = 0x5eed_0d25;
const DATAGRAMS = 1_000_000;
const TCP_INPUTS = 200_000;

const CONN: ConnectionInfo = Object.freeze({
  connId: 1, pid: 1, fd: 3, processStartNs: 0, role: 1, family: 4,
  localAddr: '127.0.0.1', localPort: 1, remoteAddr: '127.0.0.1', remotePort: 53, openedNs: 0,
}) as ConnectionInfo;

const V4 = Uint8Array.of(192, 0, 2, 1);
const MESSAGES = [
  dnsMessage({ txid: 1, name: 'a.example.com', type: DnsType.A }),
  dnsMessage({ txid: 1, name: 'a.example.com', type: DnsType.A, answers: [{ name: 'a.example.com', type: DnsType.A, data: V4 }] }),
  dnsMessage({ txid: 2, name: 'www.example.org', type: DnsType.AAAA, answers: [
    { name: 'www.example.org', type: DnsType.CNAME, data: 'cdn.example.net' },
    { name: 'cdn.example.net', type: DnsType.AAAA, data: new Uint8Array(16).fill(0x20) },
  ] }),
  dnsMessage({ txid: 3, name: 'missing.test', type: DnsType.MX, answers: [], rcode: 3 }),
  dnsMessage({ txid: 4, name: '4.3.2.1.in-addr.arpa', type: DnsType.PTR, answers: [{ name: '4.3.2.1.in-addr.arpa', type: DnsType.PTR, data: 'host.test' }] }),
];

function mutate(input: Uint8Array, scratch: Uint8Array, random: () => number): number {
  scratch.set(input);
  let length = input.length;
  const edits = 1 + Math.floor(random() * 3);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(random() * length);
    // Bias towards the bytes that steer parsing: counts, label lengths, pointers.
    scratch[at] = random() < 0.5 ? Math.floor(random() * 256) : [0, 1, 0x3f, 0xc0, 0xff][Math.floor(random() * 5)]!;
  }
  if (random() < 0.2) length = Math.floor(random() * length);
  return length;
}

describe('DNS parser fuzzing', () => {
  it(`survives ${DATAGRAMS.toLocaleString('en')} mutated and random datagrams; parsed ones render valid JSON`, function () {
    this.timeout(60_000);
    const random = seededRandom(SEED);
    const counters = new Counters();
    let rows = 0;
    const pairer = new DnsDatagramPairer({
      sinks: { onDns: (record) => { rows++; if ((rows & 15) === 0) JSON.parse(record.respBody); } },
      counters,
      maxPending: 256,
    });
    const scratch = new Uint8Array(512);
    const msg = createDnsMessage();
    let parsed = 0;
    const event = {
      timestampNs: 0, pid: 1, fd: 3, processStartNs: 0, cgroupId: 0, direction: Direction.Egress as Direction, protocol: 5,
      family: 4 as const, localAddr: '127.0.0.1', localPort: 40000, remoteAddr: '127.0.0.53', remotePort: 53, length: 0, data: scratch,
    };
    for (let n = 0; n < DATAGRAMS; n++) {
      let length: number;
      if (random() < 0.1) {
        length = Math.floor(random() * 64);
        for (let i = 0; i < length; i++) scratch[i] = Math.floor(random() * 256);
      } else {
        length = mutate(MESSAGES[Math.floor(random() * MESSAGES.length)]!, scratch, random);
      }
      if ((n & 7) === 0) {
        // Directly: the JSON of every successful parse must be valid.
        if (parseDnsMessage(scratch, 0, length, msg) === null) {
          parsed++;
          JSON.parse(msg.headerJson);
          JSON.parse(msg.bodyJson);
        }
        continue;
      }
      event.timestampNs = n;
      event.direction = random() < 0.5 ? Direction.Egress : Direction.Ingress;
      event.length = length;
      event.data = scratch.subarray(0, length);
      pairer.onDgram(event as DgramEvent);
      if (pairer.size > 256) assert.fail(`pending ${pairer.size} at input ${n}`);
    }
    const stats = counters.snapshot();
    const errors = Object.entries(stats).filter(([k]) => k.startsWith('parse_error.dns.')).reduce((sum, [, v]) => sum + v, 0);
    assert.ok(parsed > 10_000, `parsed ${parsed}`);
    assert.ok(rows > 1_000, `rows ${rows}`);
    assert.ok(errors > 10_000, `parse errors ${errors}`);
  });

  it(`survives ${TCP_INPUTS.toLocaleString('en')} mutated TCP segments with gaps`, function () {
    this.timeout(60_000);
    const random = seededRandom(SEED + 1);
    const counters = new Counters();
    const env: SessionEnv = {
      sinks: { onDns: (record) => void JSON.parse(record.reqBody) },
      counters,
      limits: { maxBodyBytes: 64, maxHeaderBytes: 256, maxPendingMessages: 8, maxPendingBytes: 4096 },
    };
    const frames = MESSAGES.map(tcpFrame);
    const scratch = new Uint8Array(512);
    let session = new DnsTcpSession(CONN, env);
    for (let n = 0; n < TCP_INPUTS; n++) {
      if (n % 16 === 0) {
        session.close(n);
        session = new DnsTcpSession(CONN, env);
      }
      const frame = frames[Math.floor(random() * frames.length)]!;
      const length = random() < 0.3 ? (scratch.set(frame), frame.length) : mutate(frame, scratch, random);
      const side = (frame[4]! & 0x80) === 0 ? StreamSide.Request : StreamSide.Response;
      const split = Math.floor(random() * (length + 1));
      session.data(side, scratch, 0, split, n);
      if (random() < 0.02) session.gap(side, 10, n);
      session.data(side, scratch, split, length, n);
      if (session.retainedBytes() > 2 * 0xffff + 8 * 256) assert.fail(`retained ${session.retainedBytes()} at input ${n}`);
    }
    session.close(TCP_INPUTS);
    assert.ok(counters.get('records.dns') > 1_000);
  });
});
