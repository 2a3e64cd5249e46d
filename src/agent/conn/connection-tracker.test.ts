import assert from 'node:assert/strict';
import type { DataEvent } from '../bpf/events.ts';
import { Direction, TraceRole } from '../bpf/events.ts';
import type { SocketEvent } from './replay.ts';
import { SyntheticConnection, replaySocketEvents } from './replay.ts';
import { capturingTracker, countPrefix, replay, seededRandom } from './test-helpers.ts';

const GET = 'GET /a HTTP/1.1\r\nHost: h\r\n\r\n';
const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

function server(connId = 1): SyntheticConnection {
  return new SyntheticConnection({ connId, role: TraceRole.Server }).open();
}

describe('ConnectionTracker', () => {
  describe('with a client-side connection', () => {
    it('reads requests from egress and responses from ingress', () => {
      const c = new SyntheticConnection({ connId: 3, role: TraceRole.Client }).open();
      c.send(Direction.Egress, GET).send(Direction.Ingress, OK).close();
      const { exchanges, conns } = replay(c.events);
      assert.equal(exchanges.length, 1);
      assert.equal(exchanges[0]!.respBody, 'ok');
      assert.equal(conns[0]!.role, TraceRole.Client);
      assert.equal(conns[0]!.connId, 3);
    });

    it('infers the role from the traffic when the open did not know it', () => {
      const c = new SyntheticConnection({ connId: 4, role: TraceRole.Unknown }).open();
      c.send(Direction.Egress, GET).send(Direction.Ingress, OK).close();
      const { exchanges, conns } = replay(c.events);
      assert.equal(exchanges.length, 1);
      assert.equal(conns[0]!.role, TraceRole.Client);
    });
  });

  describe('with TLS plaintext from the TLS library', () => {
    it('marks the connection encrypted before its session, so every record says so', () => {
      const c = new SyntheticConnection({ connId: 20, role: TraceRole.Server, tls: true }).open().request(GET).response(OK).request(GET).response(OK);
      const { exchanges, conns, tracker } = replay(c.events);
      assert.equal(exchanges.length, 2);
      assert.deepEqual(conns.map((i) => i.encrypted), [true, true]);
      assert.equal(tracker.stats()['tls_after_session'] ?? 0, 0);
    });

    it('finishes at close on the plaintext end positions, not the larger socket counts', () => {
      const c = new SyntheticConnection({ connId: 21, role: TraceRole.Client, tls: true, tlsOverheadBytes: 3000 }).open().request(GET).response(OK).close();
      const { tracker } = replay(c.events);
      assert.equal(tracker.size, 0, 'finished at once: every plaintext byte was delivered');
      assert.equal(tracker.stats()['close_waiting'] ?? 0, 0);
    });

    it('leaves connections without TLS unencrypted', () => {
      const c = server(22).request(GET).response(OK).close();
      assert.equal(replay(c.events).conns[0]!.encrypted, undefined);
    });
  });

  describe('with loopback traffic traced on both sides', () => {
    it('emits one exchange per traced side', () => {
      const srv = new SyntheticConnection({ connId: 10, role: TraceRole.Server }).open().request(GET).response(OK).close();
      const cli = new SyntheticConnection({ connId: 11, role: TraceRole.Client }).open().request(GET).response(OK).close();
      const { conns } = replay([...srv.events, ...cli.events]);
      assert.deepEqual(
        conns.map((c) => [c.connId, c.role]),
        [
          [10, TraceRole.Server],
          [11, TraceRole.Client],
        ],
      );
    });
  });

  describe('with gaps the kernel did not capture', () => {
    it('skips a gap inside a Content-Length body and keeps the real size', () => {
      const body = 'b'.repeat(100_000);
      const c = server()
        .request(GET)
        .response(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`, { capturedBytes: 4096 })
        .request('GET /next HTTP/1.1\r\n\r\n')
        .response(OK)
        .close();
      const { exchanges, tracker } = replay(c.events);
      assert.equal(exchanges.length, 2);
      assert.equal(exchanges[0]!.respBodySize, 100_000);
      assert.equal(exchanges[0]!.respBody, 'b'.repeat(512));
      assert.equal(exchanges[1]!.reqPath, '/next');
      const stats = tracker.stats();
      assert.equal(stats['gaps'], 1);
      assert.equal(countPrefix(stats, 'gap_resync'), 0);
    });

    it('resyncs after a gap in a head and counts it', () => {
      const c = server()
        .request('GET /lost HTTP/1.1\r\nHost: h\r\n\r\n', { capturedBytes: 10 })
        .response(OK)
        .request('GET /found HTTP/1.1\r\n\r\n')
        .response(OK)
        .close();
      const { exchanges, tracker } = replay(c.events);
      assert.deepEqual(
        exchanges.map((e) => e.reqPath),
        ['/found'],
      );
      const stats = tracker.stats();
      assert.equal(stats['gap_resync.http1'], 1);
      assert.equal(stats['unmatched_response.http1'], 1);
    });
  });

  describe('with events out of order', () => {
    it('reorders them by position', () => {
      const c = server();
      const req = new TextEncoder().encode('POST /o HTTP/1.1\r\nContent-Length: 6\r\n\r\nabcdef');
      const parts = [req.slice(0, 10), req.slice(10, 30), req.slice(30)].map((p) => c.dataEvent(Direction.Ingress, p));
      const events: SocketEvent[] = [...c.events];
      for (const k of [2, 0, 1]) events.push({ kind: 'data', event: parts[k]! });
      c.events.length = 0;
      c.response(OK).close();
      events.push(...c.events);
      const { exchanges, tracker } = replay(events);
      assert.equal(exchanges.length, 1);
      assert.equal(exchanges[0]!.reqBody, 'abcdef');
      assert.equal(tracker.stats()['out_of_order'], 1);
    });

    it('drops duplicate events by position', () => {
      const c = server();
      const ev = c.dataEvent(Direction.Ingress, GET);
      const events: SocketEvent[] = [...c.events, { kind: 'data', event: ev }, { kind: 'data', event: ev }];
      c.events.length = 0;
      c.response(OK).close();
      const { exchanges, tracker } = replay([...events, ...c.events]);
      assert.equal(exchanges.length, 1);
      assert.equal(tracker.stats()['stale_dropped'], 1);
    });

    it('waits for data still in flight when the close arrives first', () => {
      const c = server().request(GET);
      const late = c.dataEvent(Direction.Egress, OK);
      c.close();
      const events: SocketEvent[] = [...c.events, { kind: 'data', event: late }];
      const { exchanges, tracker } = replay(events);
      assert.equal(exchanges.length, 1);
      assert.equal(tracker.size, 0);
    });
  });

  describe('with connections it never saw open', () => {
    it('counts their data and ignores it', () => {
      const c = new SyntheticConnection({ connId: 99 }).request(GET);
      const { exchanges, tracker } = replay(c.events);
      assert.equal(exchanges.length, 0);
      assert.equal(tracker.stats()['unknown_connection'], 1);
    });
  });

  describe('with traffic that is not HTTP', () => {
    it('ignores the connection and counts it once', () => {
      const c = server().request('\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03').response('\x16\x03\x03\x00\x7a').request('more').close();
      const { tracker } = replay(c.events);
      const stats = tracker.stats();
      assert.equal(stats['unknown_protocol'], 1);
      assert.equal(stats['ignored_events'], 1);
    });
  });

  describe('bounds', () => {
    it('evicts the least recently active connection beyond maxConnections', () => {
      const { tracker } = capturingTracker({ maxConnections: 2 });
      const a = server(1);
      const b = server(2);
      const c = server(3);
      replaySocketEvents(tracker, [...a.events, ...b.events]);
      a.events.length = 0;
      a.request(GET); // touch 1: 2 becomes least recent
      replaySocketEvents(tracker, [...a.events, ...c.events]);
      assert.equal(tracker.size, 2);
      assert.equal(tracker.stats()['evicted'], 1);
      b.events.length = 0;
      b.request(GET);
      replaySocketEvents(tracker, b.events);
      assert.equal(tracker.stats()['unknown_connection'], 1);
    });

    it('finishes the least recently active connections when all together hold more than maxTotalBytes', () => {
      const { tracker } = capturingTracker({ maxTotalBytes: 3000 });
      const conns = [server(1), server(2), server(3), server(4)];
      for (const c of conns) {
        // A request head still arriving: the parser must hold it.
        c.events.push({ kind: 'data', event: c.dataEvent(Direction.Ingress, `GET /${'p'.repeat(900)} HTTP/1.1\r\nHost: x\r\n`) });
        replaySocketEvents(tracker, c.events);
        c.events.length = 0;
      }
      const stats = tracker.stats();
      assert.ok(stats['evicted_memory']! >= 1, JSON.stringify(stats));
      assert.ok(stats['retained_bytes']! <= 3000 + 2048, `retained ${stats['retained_bytes']}`);
      assert.ok(tracker.size < 4);
    });

    it('gives up waiting for missing bytes beyond maxBufferedBytes', () => {
      const c = server();
      const first = c.dataEvent(Direction.Ingress, 'x'.repeat(100)); // never delivered: lost
      void first;
      const events: SocketEvent[] = [...c.events];
      for (let k = 0; k < 10; k++) events.push({ kind: 'data', event: c.dataEvent(Direction.Ingress, 'y'.repeat(1000)) });
      const { tracker } = replay(events, { maxBufferedBytes: 4096 });
      const stats = tracker.stats();
      assert.ok(stats['reorder_overflow']! >= 1);
      assert.equal(stats['gap_bytes'], 100);
    });

    it('gives up waiting after maxReorderEvents', () => {
      const c = server();
      c.dataEvent(Direction.Ingress, 'lost');
      const events: SocketEvent[] = [...c.events];
      events.push({ kind: 'data', event: c.dataEvent(Direction.Ingress, GET) });
      for (let k = 0; k < 3; k++) events.push({ kind: 'data', event: c.dataEvent(Direction.Ingress, GET) });
      const { tracker } = replay(events, { maxReorderEvents: 2 });
      assert.equal(tracker.stats()['reorder_overflow'], 1);
    });

    it('forgets idle connections on tick', () => {
      const { tracker } = capturingTracker({ idleTimeoutNs: 1_000_000 });
      replaySocketEvents(tracker, server(1).request(GET).events);
      tracker.tick(10_000_000);
      assert.equal(tracker.size, 0);
      assert.equal(tracker.stats()['expired'], 1);
    });

    it('bounds requests waiting for responses', () => {
      const c = server();
      for (let k = 0; k < 50; k++) c.request(GET);
      const { tracker } = replay(c.events, { maxPendingMessages: 8 });
      assert.equal(tracker.stats()['pending_overflow.http1'], 42);
    });
  });

  describe('with random and mutated input', () => {
    it('never throws and counts what it drops', function () {
      this.timeout(60_000);
      const random = seededRandom(42);
      const samples = [
        'GET /a?b=c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc',
        'POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
        'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello',
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x\r\nhello\r\n0\r\nT: 1\r\n\r\n',
        'HTTP/1.0 100 Continue\r\n\r\nHTTP/1.1 101 Switching Protocols\r\n\r\n',
        'HEAD / HTTP/1.0\n\n',
      ].map((s) => new TextEncoder().encode(s));
      const { tracker } = capturingTracker({ maxHeaderBytes: 512, maxBufferedBytes: 2048 });
      const event: DataEvent = { timestampNs: 0, connId: 0, pid: 1, fd: 1, direction: Direction.Ingress, position: 0, length: 0, data: new Uint8Array(0) };
      const positions = [0, 0];
      let ts = 1;
      let connId = 0;
      const inputs = 200_000;
      for (let n = 0; n < inputs; n++) {
        if (n % 20 === 0) {
          if (connId > 0) tracker.onClose({ timestampNs: ts++, connId, pid: 1, fd: 1, bytesSent: positions[0]!, bytesReceived: positions[1]! });
          connId++;
          positions[0] = 0;
          positions[1] = 0;
          const role = random() < 0.5 ? TraceRole.Server : random() < 0.5 ? TraceRole.Client : TraceRole.Unknown;
          tracker.onOpen({ timestampNs: ts++, connId, pid: 1, fd: 1, processStartNs: 1, role, family: 4, localAddr: 'a', localPort: 1, remoteAddr: 'b', remotePort: 2 });
        }
        let bytes: Uint8Array;
        const mode = random();
        if (mode < 0.3) {
          bytes = new Uint8Array(1 + Math.floor(random() * 64));
          for (let k = 0; k < bytes.length; k++) bytes[k] = Math.floor(random() * 256);
        } else {
          const sample = samples[Math.floor(random() * samples.length)]!;
          const from = mode < 0.6 ? Math.floor(random() * sample.length) : 0;
          const to = from + 1 + Math.floor(random() * (sample.length - from));
          bytes = sample.slice(from, to);
          for (let flips = Math.floor(random() * 3); flips > 0; flips--) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
        }
        const direction = random() < 0.5 ? Direction.Egress : Direction.Ingress;
        const roll = random();
        let position = positions[direction]!;
        if (roll < 0.05) position += Math.floor(random() * 100); // lost bytes
        else if (roll < 0.08) position = Math.max(0, position - Math.floor(random() * 10)); // overlap
        const length = roll > 0.97 ? bytes.length + Math.floor(random() * 100_000) : bytes.length; // uncaptured tail
        positions[direction] = Math.max(positions[direction]!, position + length);
        event.timestampNs = ts++;
        event.connId = random() < 0.01 ? connId + 1000 : connId;
        event.direction = direction;
        event.position = position;
        event.length = length;
        event.data = bytes;
        tracker.onData(event);
        if (n % 5000 === 0) tracker.tick(ts);
      }
      tracker.closeAll(ts);
      const stats = tracker.stats();
      if (process.env.WISP_FUZZ_STATS) console.log(stats);
      assert.equal(stats['events_data'], inputs);
      assert.ok(countPrefix(stats, 'parse_error.') > 1000, JSON.stringify(stats));
      assert.ok(stats['records.http1']! > 0);
      assert.ok(stats['unknown_connection']! > 0);
      assert.equal(tracker.size, 0);
    });
  });
});
