import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { Direction, TraceRole } from '../../bpf/events.ts';
import { ConnectionTracker } from '../../conn/connection-tracker.ts';
import { Counters } from '../../conn/counters.ts';
import { SyntheticConnection, replaySocketEvents } from '../../conn/replay.ts';
import type { ConnectionInfo, SessionEnv } from '../protocol.ts';
import { InferResult, StreamSide } from '../protocol.ts';
import type { RedisRecord } from './redis-record.ts';
import { inferRedis, RedisSession } from './redis-session.ts';

const CONN: ConnectionInfo = Object.freeze({
  connId: 1, pid: 1, fd: 3, processStartNs: 0, role: TraceRole.Client, family: 4,
  localAddr: '127.0.0.1', localPort: 50000, remoteAddr: '127.0.0.1', remotePort: 6379, openedNs: 0,
}) as ConnectionInfo;

/** RESP encoding of a client command. */
function command(...words: string[]): string {
  return `*${words.length}\r\n${words.map((w) => `$${Buffer.byteLength(w)}\r\n${w}\r\n`).join('')}`;
}

interface Harness {
  session: RedisSession;
  records: RedisRecord[];
  counters: Counters;
  req(text: string, ts: number): void;
  resp(text: string, ts: number): void;
}

function harness(maxBodyBytes = 512): Harness {
  const records: RedisRecord[] = [];
  const counters = new Counters();
  const env: SessionEnv = {
    sinks: { onRedis: (record) => void records.push(record) },
    counters,
    limits: { maxBodyBytes, maxHeaderBytes: 1024, maxPendingMessages: 32, maxPendingBytes: 64 * 1024 },
  };
  const session = new RedisSession(CONN, env);
  const push = (side: StreamSide, text: string, ts: number): void => {
    const bytes = Buffer.from(text);
    session.data(side, bytes, 0, bytes.length, ts);
  };
  return {
    session, records, counters,
    req: (text, ts) => push(StreamSide.Request, text, ts),
    resp: (text, ts) => push(StreamSide.Response, text, ts),
  };
}

const rows = (records: readonly RedisRecord[]): string[][] => records.map((r) => [r.reqCmd, r.reqArgs, r.resp]);

describe('RedisSession', () => {
  describe('with simple commands', () => {
    it('renders each reply type and pairs it with its command', () => {
      const h = harness();
      h.req(command('SET', 'k', 'v'), 10);
      h.resp('+OK\r\n', 20);
      h.req(command('GET', 'k'), 30);
      h.resp('$1\r\nv\r\n', 40);
      h.req(command('GET', 'missing'), 50);
      h.resp('$-1\r\n', 60);
      h.req(command('INCR', 'n'), 70);
      h.resp(':42\r\n', 80);
      h.req(command('LPUSH', 'k', 'x'), 90);
      h.resp('-WRONGTYPE Operation against a key holding the wrong kind of value\r\n', 100);
      h.req(command('LRANGE', 'l', '0', '-1'), 110);
      h.resp('*3\r\n$1\r\na\r\n:2\r\n*-1\r\n', 120);
      assert.deepEqual(rows(h.records), [
        ['SET', '["k","v"]', 'OK'],
        ['GET', '["k"]', 'v'],
        ['GET', '["missing"]', '<NULL>'],
        ['INCR', '["n"]', '42'],
        ['LPUSH', '["k","x"]', '-WRONGTYPE Operation against a key holding the wrong kind of value'],
        ['LRANGE', '["l","0","-1"]', '["a","2",null]'],
      ]);
      assert.deepEqual(h.records.map((r) => r.latencyNs), [10, 10, 10, 10, 10, 10]);
    });

    it('names container commands with their subcommand, upper-cased', () => {
      const h = harness();
      h.req(command('config', 'get', 'maxmemory'), 1);
      h.resp('*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n', 2);
      h.req(command('CLIENT', 'SETNAME', 'app'), 3);
      h.resp('+OK\r\n', 4);
      assert.deepEqual(rows(h.records), [['CONFIG GET', '["maxmemory"]', '["maxmemory","0"]'], ['CLIENT SETNAME', '["app"]', 'OK']]);
    });

    it('renders RESP3 types: null, boolean, double, map, verbatim, big number', () => {
      const h = harness();
      for (const reply of ['_\r\n', '#t\r\n', ',3.14\r\n', '%1\r\n+a\r\n:1\r\n', '=7\r\ntxt:abc\r\n', '(12345678901234567890\r\n', '|1\r\n+ttl\r\n:3\r\n+OK\r\n']) {
        h.req(command('X'), 1);
        h.resp(reply, 2);
      }
      assert.deepEqual(h.records.map((r) => r.resp), ['<NULL>', 'true', '3.14', '["a","1"]', 'abc', '12345678901234567890', 'OK']);
    });
  });

  describe('with pipelining', () => {
    it('pairs N commands written at once with the next N replies, split anywhere', () => {
      const h = harness();
      const requests = Buffer.from(command('SET', 'a', '1') + command('INCR', 'a') + command('GET', 'a'));
      const replies = Buffer.from('+OK\r\n:2\r\n$1\r\n2\r\n');
      h.session.data(StreamSide.Request, requests, 0, requests.length, 100);
      for (let i = 0; i < replies.length; i += 3) h.session.data(StreamSide.Response, replies, i, Math.min(i + 3, replies.length), 200 + i);
      assert.deepEqual(rows(h.records), [['SET', '["a","1"]', 'OK'], ['INCR', '["a"]', '2'], ['GET', '["a"]', '2']]);
    });
  });

  describe('with pub/sub', () => {
    it('pairs SUBSCRIBE with its confirmations and records pushed messages as PUSH PUB rows', () => {
      const h = harness();
      h.req(command('SUBSCRIBE', 'news', 'alerts'), 10);
      h.resp('*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$6\r\nalerts\r\n:2\r\n', 20);
      h.resp('*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n', 30);
      h.req(command('UNSUBSCRIBE', 'news'), 40);
      h.resp('*3\r\n$11\r\nunsubscribe\r\n$4\r\nnews\r\n:1\r\n', 50);
      assert.deepEqual(rows(h.records), [
        ['SUBSCRIBE', '["news","alerts"]', '[["subscribe","news","1"],["subscribe","alerts","2"]]'],
        ['PUSH PUB', '[]', '["message","news","hello"]'],
        ['UNSUBSCRIBE', '["news"]', '["unsubscribe","news","1"]'],
      ]);
      assert.equal(h.records[1]!.latencyNs, 0);
    });

    it('treats a RESP2 array starting with "message" as an ordinary reply when not subscribed', () => {
      const h = harness();
      h.req(command('LRANGE', 'l', '0', '-1'), 1);
      h.resp('*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nb\r\n', 2);
      assert.deepEqual(rows(h.records), [['LRANGE', '["l","0","-1"]', '["message","a","b"]']]);
    });

    it('records RESP3 pushes that no command expects', () => {
      const h = harness();
      h.resp('>2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n', 5);
      assert.deepEqual(rows(h.records), [['PUSH INVALIDATE', '[]', '["invalidate",["k"]]']]);
    });
  });

  describe('with limits and bad input', () => {
    it('cuts bulk strings and elides arguments past the body limit, keeping valid JSON', () => {
      const h = harness(16);
      h.req(command('MSET', 'k1', 'v'.repeat(40), 'k2', 'v2', 'k3', 'v3'), 1);
      h.resp(`$40\r\n${'x'.repeat(40)}\r\n`, 2);
      const record = h.records[0]!;
      assert.equal(record.resp, 'x'.repeat(16));
      const args = JSON.parse(record.reqArgs) as string[];
      assert.equal(args[0], 'k1');
      assert.equal(args.at(-1), '…');
    });

    it('skips a gap inside a bulk payload without losing the message', () => {
      const h = harness();
      h.req(command('GET', 'k'), 1);
      h.resp('$10\r\nabc', 2);
      h.session.gap(StreamSide.Response, 4, 3);
      h.resp('hij\r\n', 4);
      assert.deepEqual(rows(h.records), [['GET', '["k"]', 'abchij']]);
    });

    it('counts a malformed reply, resynchronizes and pairs later traffic', () => {
      const h = harness();
      h.req(command('GET', 'a'), 1);
      h.resp('?garbage\r\n', 2);
      h.req(command('GET', 'b'), 3);
      h.resp('$1\r\nb\r\n', 4);
      assert.deepEqual(rows(h.records), [['GET', '["b"]', 'b']]);
      assert.equal(h.counters.get('parse_error.redis.bad_type'), 1);
      assert.equal(h.counters.get('unmatched_request.redis'), 1);
    });

    it('counts a reply without a command', () => {
      const h = harness();
      h.resp('+OK\r\n', 1);
      assert.equal(h.records.length, 0);
      assert.equal(h.counters.get('unmatched_response.redis'), 1);
    });
  });
});

describe('inferRedis', () => {
  const infer = (text: string): InferResult => inferRedis(Buffer.from(text), 0, text.length);
  it('recognizes a client command array', () => {
    assert.equal(infer('*3\r\n$3\r\nSET'), InferResult.Request);
    assert.equal(infer('*12\r\n$'), InferResult.Request);
    assert.equal(infer('*3\r'), InferResult.NeedMore);
  });
  it('rejects anything else', () => {
    assert.equal(infer('GET / HTTP/1.1'), InferResult.NoMatch);
    assert.equal(infer('+OK\r\n'), InferResult.NoMatch);
    assert.equal(infer('*3\r\n:1'), InferResult.NoMatch);
    assert.equal(infer('*\r\n$'), InferResult.NoMatch);
  });
});

describe('ConnectionTracker with Redis traffic', () => {
  it('infers Redis from the first command and emits rows', () => {
    const records: RedisRecord[] = [];
    const tracker = new ConnectionTracker({ sinks: { onRedis: (r) => void records.push(r) } });
    const conn = new SyntheticConnection({ connId: 9, role: TraceRole.Server }).open();
    conn.request(command('PING')).response('+PONG\r\n').send(Direction.Ingress, command('ECHO', 'hi')).response('$2\r\nhi\r\n').close();
    replaySocketEvents(tracker, conn.events);
    assert.deepEqual(rows(records), [['PING', '[]', 'PONG'], ['ECHO', '["hi"]', 'hi']]);
  });
});
