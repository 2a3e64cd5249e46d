import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { Counters } from '../../conn/counters.ts';
import { ConnectionTracker } from '../../conn/connection-tracker.ts';
import { SyntheticConnection, replaySocketEvents } from '../../conn/replay.ts';
import { seededRandom } from '../../conn/test-helpers.ts';
import { TraceRole } from '../../bpf/events.ts';
import type { ConnectionInfo, SessionEnv } from '../protocol.ts';
import { InferResult, StreamSide } from '../protocol.ts';
import type { PgsqlRecord } from './pgsql-record.ts';
import { PgsqlSession, inferPgsql } from './pgsql-session.ts';

const enc = new TextEncoder();

/** A tagged backend/frontend message. */
export function msg(tag: string, ...parts: (string | number[] | Uint8Array)[]): Uint8Array {
  const body = concat(parts.map((p) => (typeof p === 'string' ? enc.encode(p) : Uint8Array.from(p))));
  const out = new Uint8Array(5 + body.length);
  out[0] = tag.charCodeAt(0);
  new DataView(out.buffer).setInt32(1, body.length + 4);
  out.set(body, 5);
  return out;
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

const cstr = (s: string): Uint8Array => enc.encode(`${s}\0`);
const i16 = (v: number): number[] => [(v >> 8) & 0xff, v & 0xff];
const i32 = (v: number): number[] => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];

export function startup(): Uint8Array {
  const body = concat([Uint8Array.from(i32(0x00030000)), cstr('user'), cstr('app'), cstr('database'), cstr('shop'), Uint8Array.of(0)]);
  return concat([Uint8Array.from(i32(body.length + 4)), body]);
}
export const sslRequest = (): Uint8Array => Uint8Array.from([...i32(8), ...i32(80877103)]);
export const ready = (): Uint8Array => msg('Z', 'I');
export const startupReply = (): Uint8Array =>
  concat([msg('R', i32(0)), msg('S', cstr('server_version'), cstr('15.8')), msg('K', i32(7), i32(99)), ready()]);
export const query = (sql: string): Uint8Array => msg('Q', cstr(sql));
export const rowDescription = (...names: string[]): Uint8Array =>
  msg('T', i16(names.length), ...names.flatMap((n) => [cstr(n), [...i32(0), ...i16(0), ...i32(23), ...i16(4), ...i32(-1), ...i16(0)]]));
export const dataRow = (...values: string[]): Uint8Array =>
  msg('D', i16(values.length), ...values.flatMap((v) => [i32(enc.encode(v).length), v]));
export const complete = (tag: string): Uint8Array => msg('C', cstr(tag));
export const errorResponse = (message: string, code: string): Uint8Array =>
  msg('E', 'S', cstr('ERROR'), 'V', cstr('ERROR'), 'C', cstr(code), 'M', cstr(message), [0]);
export const parse = (name: string, sql: string, oids: number[] = []): Uint8Array =>
  msg('P', cstr(name), cstr(sql), i16(oids.length), ...oids.map(i32));
/** Bind with text parameters (null for NULL). */
export const bind = (portal: string, statement: string, params: (string | null)[]): Uint8Array =>
  msg('B', cstr(portal), cstr(statement), i16(0), i16(params.length),
    ...params.flatMap((p) => (p === null ? [i32(-1)] : [i32(enc.encode(p).length), p])), i16(0));
export const describePortal = (portal: string): Uint8Array => msg('D', 'P', cstr(portal));
export const execute = (portal: string): Uint8Array => msg('E', cstr(portal), i32(0));
export const sync = (): Uint8Array => msg('S');

export interface PgCapture { records: PgsqlRecord[]; conns: ConnectionInfo[]; tracker: ConnectionTracker }

export function pgTracker(): PgCapture {
  const records: PgsqlRecord[] = [];
  const conns: ConnectionInfo[] = [];
  const tracker = new ConnectionTracker({ sinks: { onPgsql: (r, c) => { records.push(r); conns.push(c); } } });
  return { records, conns, tracker };
}

/** A server-side connection that completed the startup handshake. */
function started(role: TraceRole = TraceRole.Server): SyntheticConnection {
  return new SyntheticConnection({ connId: 1, role, localPort: 5432 }).open().request(startup()).response(startupReply());
}

function summary(records: readonly PgsqlRecord[]): string[] {
  return records.map((r) => `${r.reqCmd} | ${r.req} | ${r.resp}`);
}

describe('PgsqlSession', () => {
  describe('inference', () => {
    it('recognises the startup message and the SSLRequest as requests', () => {
      assert.equal(inferPgsql(startup(), 0, 8), InferResult.Request);
      assert.equal(inferPgsql(sslRequest(), 0, 8), InferResult.Request);
      assert.equal(inferPgsql(startup(), 0, 3), InferResult.NeedMore);
    });
    it('rejects HTTP, MySQL greetings and tagged messages', () => {
      for (const text of ['GET / HTTP/1.1\r\n', '\x4a\x00\x00\x00\x0a5.5.5-10', 'Q\x00\x00\x00\x0dSELECT 1\x00']) {
        const bytes = Uint8Array.from(text, (c) => c.charCodeAt(0));
        assert.equal(inferPgsql(bytes, 0, bytes.length), InferResult.NoMatch, JSON.stringify(text));
      }
    });
  });

  describe('with a simple query', () => {
    it('records the SQL, the command tag with the columns and the latency', () => {
      const { records, tracker } = pgTracker();
      const conn = started().request(query('SELECT id, name FROM items'))
        .response(concat([rowDescription('id', 'name'), dataRow('1', 'a'), dataRow('2', 'b'), dataRow('3', 'c'), complete('SELECT 3'), ready()]))
        .close();
      replaySocketEvents(tracker, conn.events);
      assert.deepEqual(summary(records), ['Query | SELECT id, name FROM items | SELECT 3 [id, name]']);
      assert.ok(records[0]!.latencyNs > 0);
      assert.equal(tracker.stats()['protocol.pgsql'], 1);
    });

    it('joins the tags of a multi-statement query and reports an error with its SQLSTATE', () => {
      const { records, tracker } = pgTracker();
      const conn = started()
        .request(query('CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2)'))
        .response(concat([complete('CREATE TABLE'), complete('INSERT 0 2'), ready()]))
        .request(query('SELECT * FROM nope'))
        .response(concat([errorResponse('relation "nope" does not exist', '42P01'), ready()]))
        .close();
      replaySocketEvents(tracker, conn.events);
      assert.deepEqual(summary(records), [
        'Query | CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2) | CREATE TABLE; INSERT 0 2',
        'Query | SELECT * FROM nope | ERROR: relation "nope" does not exist (42P01)',
      ]);
    });

    it('parses messages split at every byte', () => {
      const { records, tracker } = pgTracker();
      const conn = new SyntheticConnection({ connId: 1, localPort: 5432 }).open();
      const bytesOf = (b: Uint8Array): void => { for (const x of b) conn.request(Uint8Array.of(x)); };
      bytesOf(startup());
      for (const x of startupReply()) conn.response(Uint8Array.of(x));
      bytesOf(query('SELECT 1'));
      for (const x of concat([rowDescription('one'), dataRow('1'), complete('SELECT 1'), ready()])) conn.response(Uint8Array.of(x));
      replaySocketEvents(tracker, conn.close().events);
      assert.deepEqual(summary(records), ['Query | SELECT 1 | SELECT 1 [one]']);
    });
  });

  describe('with SSLRequest', () => {
    it('continues in plaintext after an N answer', () => {
      const { records, tracker } = pgTracker();
      const conn = new SyntheticConnection({ connId: 1, localPort: 5432 }).open()
        .request(sslRequest()).response('N').request(startup()).response(startupReply())
        .request(query('SELECT 1')).response(concat([complete('SELECT 1'), ready()])).close();
      replaySocketEvents(tracker, conn.events);
      assert.deepEqual(summary(records), ['Query | SELECT 1 | SELECT 1']);
    });

    it('stops parsing when the server answers S (TLS follows)', () => {
      const { records, tracker } = pgTracker();
      const conn = new SyntheticConnection({ connId: 1, localPort: 5432 }).open()
        .request(sslRequest()).response('S').request(Uint8Array.of(0x16, 3, 1, 0, 5, 1, 2, 3, 4, 5)).close();
      replaySocketEvents(tracker, conn.events);
      assert.equal(records.length, 0);
      assert.equal(tracker.stats()['encrypted.pgsql'], 1);
    });
  });

  describe('with the extended protocol', () => {
    it('pairs a pipelined Parse/Bind/Describe/Execute/Sync and shows the bound parameters', () => {
      const { records, tracker } = pgTracker();
      const conn = started(TraceRole.Client)
        .request(concat([parse('', 'SELECT name FROM items WHERE id = $1 AND tag = $2'), bind('', '', ['42', null]), describePortal(''), execute(''), sync()]))
        .response(concat([msg('1'), msg('2'), rowDescription('name'), dataRow('widget'), complete('SELECT 1'), ready()]))
        .close();
      replaySocketEvents(tracker, conn.events);
      assert.deepEqual(summary(records), [
        'Parse | SELECT name FROM items WHERE id = $1 AND tag = $2 | PARSE COMPLETE',
        'Execute | SELECT name FROM items WHERE id = $1 AND tag = $2 PARAMETERS: [42, NULL] | SELECT 1 [name]',
      ]);
    });

    it('executes a named statement twice and decodes binary integer parameters by their declared type', () => {
      const { records, tracker } = pgTracker();
      const binaryBind = msg('B', cstr(''), cstr('s1'), i16(1), i16(1), i16(1), i32(4), i32(7), i16(0));
      const conn = started()
        .request(concat([parse('s1', 'SELECT $1::int4', [23]), sync()]))
        .response(concat([msg('1'), ready()]))
        .request(concat([binaryBind, execute(''), sync()]))
        .response(concat([msg('2'), dataRow('7'), complete('SELECT 1'), ready()]))
        .request(concat([bind('', 's1', ['8']), execute(''), sync()]))
        .response(concat([msg('2'), dataRow('8'), complete('SELECT 1'), ready()]))
        .close();
      replaySocketEvents(tracker, conn.events);
      assert.deepEqual(summary(records), [
        'Parse | SELECT $1::int4 | PARSE COMPLETE',
        'Execute | SELECT $1::int4 PARAMETERS: [7] | SELECT 1',
        'Execute | SELECT $1::int4 PARAMETERS: [8] | SELECT 1',
      ]);
    });

    it('gives a Bind error to the Execute it prevented and skips to Sync', () => {
      const { records, tracker } = pgTracker();
      const conn = started()
        .request(concat([parse('', 'SELECT $1::int'), bind('', '', ['abc']), execute(''), sync()]))
        .response(concat([msg('1'), errorResponse('invalid input syntax for type integer: "abc"', '22P02'), ready()]))
        .request(query('SELECT 2')).response(concat([complete('SELECT 1'), ready()]))
        .close();
      replaySocketEvents(tracker, conn.events);
      assert.deepEqual(summary(records), [
        'Parse | SELECT $1::int | PARSE COMPLETE',
        'Execute | SELECT $1::int PARAMETERS: [abc] | ERROR: invalid input syntax for type integer: "abc" (22P02)',
        'Query | SELECT 2 | SELECT 1',
      ]);
    });
  });

  describe('with large messages', () => {
    it('counts a 1 MB row spread over many events without holding it, and cuts long SQL at maxBodyBytes', () => {
      const { records, tracker } = pgTracker();
      const longSql = `SELECT '${'q'.repeat(2000)}' AS big`;
      const conn = started().request(query(longSql)).response(rowDescription('big'));
      const row = dataRow('v'.repeat(1 << 20));
      for (let at = 0; at < row.length; at += 16 * 1024) conn.response(row.subarray(at, at + 16 * 1024));
      conn.response(concat([complete('SELECT 1'), ready()])).close();
      let maxRetained = 0;
      for (const event of conn.events) {
        replaySocketEvents(tracker, [event]);
        maxRetained = Math.max(maxRetained, tracker.stats()['retained_bytes'] ?? 0);
      }
      assert.equal(records.length, 1);
      assert.equal(records[0]!.req, longSql.slice(0, 512));
      assert.equal(records[0]!.resp, 'SELECT 1 [big]');
      assert.ok(maxRetained < 64 * 1024, `retained ${maxRetained} bytes`);
    });
  });

  describe('with lost bytes', () => {
    it('resynchronizes at the next event that starts a message', () => {
      const { records, tracker } = pgTracker();
      const conn = started()
        .request(query('SELECT 1'), { capturedBytes: 3 })
        .response(concat([complete('SELECT 1'), ready()]))
        .request(query('SELECT 2')).response(concat([complete('SELECT 1'), ready()]))
        .close();
      replaySocketEvents(tracker, conn.events);
      assert.deepEqual(summary(records), ['Query | SELECT 2 | SELECT 1']);
    });
  });
});

describe('PgsqlSession fuzzing', () => {
  it('survives 1,000,000 random and mutated inputs without throwing, within bounds', function () {
    this.timeout(60_000);
    const random = seededRandom(0x5eed);
    const counters = new Counters();
    let records = 0;
    const env: SessionEnv = {
      sinks: { onPgsql: () => { records++; } },
      counters,
      limits: { maxBodyBytes: 64, maxHeaderBytes: 256, maxPendingMessages: 4, maxPendingBytes: 4096 },
    };
    const conn = { connId: 1, pid: 1, fd: 1, processStartNs: 0, role: 2, family: 4, localAddr: '', localPort: 0, remoteAddr: '', remotePort: 0, openedNs: 0 } as ConnectionInfo;
    const valid = [
      startup(), sslRequest(), Uint8Array.of(0x4e), startupReply(), query('SELECT 1'),
      concat([rowDescription('a', 'b'), dataRow('1', '2'), complete('SELECT 1'), ready()]),
      concat([parse('s', 'SELECT $1', [23]), bind('', 's', ['1', null]), describePortal(''), execute(''), sync()]),
      concat([msg('1'), msg('2'), msg('n'), complete('INSERT 0 1'), ready()]),
      errorResponse('boom', 'XX000'), msg('C', cstr('s')), msg('3'),
    ];
    const buffer = new Uint8Array(96);
    // Each input is one event's bytes (or a gap) on a random side; a fresh session every 8 inputs.
    const INPUTS = 1_000_000;
    let session = new PgsqlSession(conn, env);
    let maxRetained = 0;
    for (let k = 0; k < INPUTS; k++) {
      if ((k & 7) === 0) {
        session.close(k);
        session = new PgsqlSession(conn, env);
      }
      const side = random() < 0.5 ? StreamSide.Request : StreamSide.Response;
      let length: number;
      if (random() < 0.6) {
        // A valid message, cut, with up to two bytes replaced.
        const source = valid[Math.floor(random() * valid.length)]!;
        length = Math.min(buffer.length, Math.floor(random() * (source.length + 1)));
        buffer.set(source.subarray(0, length));
        if (length > 0 && random() < 0.5) buffer[Math.floor(random() * length)] = Math.floor(random() * 256);
        if (length > 0 && random() < 0.25) buffer[Math.floor(random() * length)] = Math.floor(random() * 256);
      } else {
        length = Math.floor(random() * 24);
        for (let b = 0; b < length; b++) buffer[b] = random() < 0.3 ? 0 : Math.floor(random() * 256);
      }
      if (random() < 0.02) session.gap(side, 1, k);
      else session.data(side, buffer, 0, length, k + 1);
      if ((k & 63) === 0) maxRetained = Math.max(maxRetained, session.retainedBytes());
    }
    session.close(INPUTS);
    assert.ok(maxRetained <= 64 * 1024, `retained ${maxRetained} bytes`);
    assert.ok(records > 0, 'some mutated streams still pair');
  });
});
