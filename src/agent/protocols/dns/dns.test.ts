import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import type { DgramEvent } from '../../bpf/events.ts';
import { Direction, TraceRole } from '../../bpf/events.ts';
import { ConnectionTracker } from '../../conn/connection-tracker.ts';
import { Counters } from '../../conn/counters.ts';
import { SyntheticConnection, replaySocketEvents } from '../../conn/replay.ts';
import type { ConnectionInfo } from '../protocol.ts';
import { InferResult } from '../protocol.ts';
import type { DnsRecord } from './dns-record.ts';
import { DnsDatagramPairer } from './dns-datagrams.ts';
import { inferDnsTcp } from './dns-session.ts';
import { createDnsMessage, parseDnsMessage } from './dns.parser.ts';
import { dnsMessage, DnsType, tcpFrame } from './test-helpers.ts';

const V4 = Uint8Array.of(10, 0, 0, 7);
const V6 = Uint8Array.of(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);

function parse(bytes: Uint8Array): ReturnType<typeof createDnsMessage> {
  const msg = createDnsMessage();
  assert.equal(parseDnsMessage(bytes, 0, bytes.length, msg), null);
  return msg;
}

describe('parseDnsMessage', () => {
  it("renders a query's header and questions in Pixie's JSON", () => {
    const msg = parse(dnsMessage({ txid: 0x1234, name: 'web.example.com', type: DnsType.AAAA }));
    assert.equal(msg.headerJson, '{"txid":4660,"qr":0,"opcode":0,"aa":0,"tc":0,"rd":1,"ra":0,"ad":0,"cd":0,"rcode":0,"num_queries":1,"num_answers":0,"num_auth":0,"num_addl":0}');
    assert.equal(msg.bodyJson, '{"queries":[{"name":"web.example.com","type":"AAAA"}]}');
  });

  it('renders A, AAAA and CNAME answers, following compression pointers', () => {
    const msg = parse(dnsMessage({
      txid: 7, name: 'www.example.com', type: DnsType.A,
      answers: [
        { name: 'www.example.com', type: DnsType.CNAME, data: 'web.example.com' },
        { name: 'web.example.com', type: DnsType.A, data: V4 },
        { name: 'web.example.com', type: DnsType.AAAA, data: V6 },
      ],
    }));
    assert.deepEqual(JSON.parse(msg.bodyJson), { answers: [
      { name: 'www.example.com', type: 'CNAME', cname: 'web.example.com' },
      { name: 'web.example.com', type: 'A', addr: '10.0.0.7' },
      { name: 'web.example.com', type: 'AAAA', addr: '2001:db8::1' },
    ] });
    assert.equal(JSON.parse(msg.headerJson).ra, 1);
  });

  it('reports NXDOMAIN as rcode 3 with no answers', () => {
    const msg = parse(dnsMessage({ txid: 9, name: 'nope.example.com', type: DnsType.A, answers: [], rcode: 3 }));
    assert.equal(msg.rcode, 3);
    assert.equal(msg.bodyJson, '{"answers":[]}');
  });

  it('refuses truncated messages and pointer loops with a reason', () => {
    const full = dnsMessage({ txid: 1, name: 'a.example.com', type: DnsType.A, answers: [{ name: 'a.example.com', type: DnsType.A, data: V4 }] });
    const msg = createDnsMessage();
    assert.equal(parseDnsMessage(full, 0, full.length - 2, msg), 'truncated');
    assert.equal(parseDnsMessage(full, 0, 5, msg), 'short_header');
    const loop = Uint8Array.from([0, 1, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]);
    assert.equal(parseDnsMessage(loop, 0, loop.length, msg), 'bad_name');
  });
});

describe('DNS over TCP', () => {
  it('infers a query with a length prefix; rejects responses first and other protocols', () => {
    const query = tcpFrame(dnsMessage({ txid: 1, name: 'example.com', type: DnsType.A }));
    assert.equal(inferDnsTcp(query, 0, 14), InferResult.Request);
    assert.equal(inferDnsTcp(query, 0, 6), InferResult.NeedMore);
    const response = tcpFrame(dnsMessage({ txid: 1, name: 'example.com', type: DnsType.A, answers: [] }));
    assert.equal(inferDnsTcp(response, 0, response.length), InferResult.NoMatch);
    const tls = Uint8Array.of(0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0, 0, 0);
    assert.equal(inferDnsTcp(tls, 0, tls.length), InferResult.NoMatch);
  });

  it('pairs responses with queries by txid, out of order, with messages split across events', () => {
    const records: DnsRecord[] = [];
    const tracker = new ConnectionTracker({ sinks: { onDns: (r) => void records.push(r) } });
    const conn = new SyntheticConnection({ connId: 5, role: TraceRole.Client, remotePort: 53 }).open();
    const q1 = tcpFrame(dnsMessage({ txid: 1, name: 'a.example.com', type: DnsType.A }));
    const q2 = tcpFrame(dnsMessage({ txid: 2, name: 'b.example.com', type: DnsType.AAAA }));
    const r2 = tcpFrame(dnsMessage({ txid: 2, name: 'b.example.com', type: DnsType.AAAA, answers: [{ name: 'b.example.com', type: DnsType.AAAA, data: V6 }] }));
    const r1 = tcpFrame(dnsMessage({ txid: 1, name: 'a.example.com', type: DnsType.A, answers: [], rcode: 3 }));
    conn.request(q1.subarray(0, 5)).request(Uint8Array.from([...q1.subarray(5), ...q2]));
    conn.response(r2.subarray(0, 1)).response(Uint8Array.from([...r2.subarray(1), ...r1])).close();
    replaySocketEvents(tracker, conn.events);
    assert.deepEqual(records.map((r) => [JSON.parse(r.reqBody).queries[0].name, JSON.parse(r.respHeader).rcode, JSON.parse(r.respBody).answers.length]),
      [['b.example.com', 0, 1], ['a.example.com', 3, 0]]);
    assert.ok(records.every((r) => r.latencyNs > 0));
  });
});

describe('DnsDatagramPairer', () => {
  const base = {
    pid: 100, fd: 7, processStartNs: 1, cgroupId: 0, protocol: 5, family: 4 as const,
    localAddr: '127.0.0.1', localPort: 40000, remoteAddr: '127.0.0.53', remotePort: 53,
  };
  const dgram = (direction: Direction, bytes: Uint8Array, timestampNs: number, over: Partial<DgramEvent> = {}): DgramEvent =>
    ({ ...base, direction, data: bytes, length: bytes.length, timestampNs, ...over });

  function pairer(): { pairer: DnsDatagramPairer; records: [DnsRecord, ConnectionInfo][]; counters: Counters } {
    const records: [DnsRecord, ConnectionInfo][] = [];
    const counters = new Counters();
    return { pairer: new DnsDatagramPairer({ sinks: { onDns: (r, c) => void records.push([r, c]) }, counters, timeoutNs: 1000 }), records, counters };
  }

  it('pairs a sent query with the received answer from the same peer and txid (client role)', () => {
    const { pairer: p, records } = pairer();
    p.onDgram(dgram(Direction.Egress, dnsMessage({ txid: 42, name: 'x.test', type: DnsType.A }), 100));
    p.onDgram(dgram(Direction.Ingress, dnsMessage({ txid: 99, name: 'x.test', type: DnsType.A, answers: [] }), 150));
    p.onDgram(dgram(Direction.Ingress, dnsMessage({ txid: 42, name: 'x.test', type: DnsType.A, answers: [{ name: 'x.test', type: DnsType.A, data: V4 }] }), 200));
    assert.equal(records.length, 1);
    const [record, conn] = records[0]!;
    assert.equal(conn.role, TraceRole.Client);
    assert.equal(conn.remotePort, 53);
    assert.equal(record.latencyNs, 100);
    assert.equal(JSON.parse(record.respBody).answers[0].addr, '10.0.0.7');
  });

  it('pairs a received query with the answer sent back (server role)', () => {
    const { pairer: p, records } = pairer();
    const server = { localPort: 53, remoteAddr: '127.0.0.1', remotePort: 40000 };
    p.onDgram(dgram(Direction.Ingress, dnsMessage({ txid: 5, name: 'y.test', type: DnsType.A }), 10, server));
    p.onDgram(dgram(Direction.Egress, dnsMessage({ txid: 5, name: 'y.test', type: DnsType.A, answers: [] }), 30, server));
    assert.equal(records[0]![1].role, TraceRole.Server);
  });

  it('counts answers without a query, garbage, and queries that time out', () => {
    const { pairer: p, records, counters } = pairer();
    p.onDgram(dgram(Direction.Ingress, dnsMessage({ txid: 1, name: 'z.test', type: DnsType.A, answers: [] }), 10));
    p.onDgram(dgram(Direction.Ingress, Uint8Array.of(1, 2, 3), 11));
    p.onDgram(dgram(Direction.Egress, dnsMessage({ txid: 2, name: 'z.test', type: DnsType.A }), 12));
    p.tick(5000);
    assert.equal(records.length, 0);
    assert.equal(p.size, 0);
    assert.equal(counters.get('unmatched_response.dns'), 1);
    assert.equal(counters.get('parse_error.dns.short_header'), 1);
    assert.equal(counters.get('unmatched_request.dns'), 1);
  });
});
