import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { Counters } from '../../conn/counters.ts';
import { ConnectionTracker } from '../../conn/connection-tracker.ts';
import { SyntheticConnection, replaySocketEvents } from '../../conn/replay.ts';
import { seededRandom } from '../../conn/test-helpers.ts';
import type { ConnectionInfo, SessionEnv } from '../protocol.ts';
import { InferResult, StreamSide } from '../protocol.ts';
import { Capability } from './mysql-messages.ts';
import type { MysqlRecord } from './mysql-record.ts';
import { MysqlSession, inferMysql } from './mysql-session.ts';

const enc = new TextEncoder();

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

const bytes = (...parts: (string | number[] | Uint8Array)[]): Uint8Array =>
  concat(parts.map((p) => (typeof p === 'string' ? enc.encode(p) : Uint8Array.from(p))));
const u16 = (v: number): number[] => [v & 0xff, (v >> 8) & 0xff];
const u32 = (v: number): number[] => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff];
const lenencString = (s: string): Uint8Array => bytes([enc.encode(s).length], s);

/** One packet: 3-byte length, sequence id, payload. */
export function packet(seq: number, ...parts: (string | number[] | Uint8Array)[]): Uint8Array {
  const payload = bytes(...parts);
  return bytes([payload.length & 0xff, (payload.length >> 8) & 0xff, payload.length >> 16, seq], payload);
}

const BASE_CAPS = Capability.Protocol41 | 0x8000 /* secure connection */ | 0x80000 /* plugin auth */;

export function greeting(caps: number): Uint8Array {
  return packet(0, [10], '5.5.5-10.11.6-MariaDB\0', u32(12), '12345678', [0], u16(caps & 0xffff), [33], u16(2), u16(caps >>> 16),
    [21], new Uint8Array(10), '123456789012\0', 'mysql_native_password\0');
}
export function handshakeResponse(caps: number): Uint8Array {
  return packet(1, u32(caps), u32(1 << 24), [33], new Uint8Array(23), 'app\0', [0], 'mysql_native_password\0');
}
export const ok = (seq: number, info = ''): Uint8Array => packet(seq, [0, 0, 0], u16(2), u16(0), info);
export const eof = (seq: number): Uint8Array => packet(seq, [0xfe], u16(0), u16(2));
const okEof = (seq: number): Uint8Array => packet(seq, [0xfe, 0, 0], u16(2), u16(0));
export const err = (seq: number, code: number, state: string, message: string): Uint8Array => packet(seq, [0xff], u16(code), `#${state}`, message);
const columnDef = (seq: number, name: string): Uint8Array =>
  packet(seq, lenencString('def'), lenencString('shop'), lenencString('items'), lenencString('items'), lenencString(name), lenencString(name),
    [0x0c], u16(33), u32(255), [0xfd], u16(0), [0], [0, 0]);
const row = (seq: number, ...values: string[]): Uint8Array => packet(seq, ...values.map(lenencString));

/** A result set of one column `name` with `values`, for the negotiated EOF mode. */
export function resultSet(deprecateEof: boolean, name: string, values: readonly string[]): Uint8Array {
  const parts = [packet(1, [1]), columnDef(2, name)];
  let seq = 3;
  if (!deprecateEof) parts.push(eof(seq++));
  for (const v of values) parts.push(row(seq++, v));
  parts.push(deprecateEof ? okEof(seq) : eof(seq));
  return concat(parts);
}

export const comQuery = (sql: string): Uint8Array => packet(0, [3], sql);

function connected(caps: number): SyntheticConnection {
  return new SyntheticConnection({ connId: 1, localPort: 3306 }).open()
    .response(greeting(caps)).request(handshakeResponse(caps)).response(ok(2));
}

function capture(): { records: MysqlRecord[]; tracker: ConnectionTracker } {
  const records: MysqlRecord[] = [];
  const tracker = new ConnectionTracker({ sinks: { onMysql: (r) => { records.push(r); } } });
  return { records, tracker };
}

const summary = (records: readonly MysqlRecord[]): string[] => records.map((r) => `${r.reqCmd} | ${r.reqBody} | ${r.respStatus} | ${r.respBody}`);

describe('MysqlSession', () => {
  describe('inference', () => {
    it('recognises the server greeting as a response and COM_QUERY as a request', () => {
      const g = greeting(BASE_CAPS);
      assert.equal(inferMysql(g, 0, 8), InferResult.Response);
      const q = comQuery('SELECT 1');
      assert.equal(inferMysql(q, 0, 8), InferResult.Request);
      assert.equal(inferMysql(q, 0, 4), InferResult.NeedMore);
    });
    it('rejects HTTP and PostgreSQL startup bytes', () => {
      for (const text of ['GET / HTTP/1.1\r\n', '\x00\x00\x00\x08\x04\xd2\x16\x2f', 'HTTP/1.1 200 OK']) {
        const b = Uint8Array.from(text, (c) => c.charCodeAt(0));
        assert.equal(inferMysql(b, 0, b.length), InferResult.NoMatch, JSON.stringify(text));
      }
    });
  });

  for (const deprecateEof of [false, true]) {
    describe(`with CLIENT_DEPRECATE_EOF ${deprecateEof ? 'on' : 'off'}`, () => {
      const caps = BASE_CAPS | (deprecateEof ? Capability.DeprecateEof : 0);

      it('records queries with result-set summaries, OK info, errors, COM_INIT_DB and COM_PING', () => {
        const { records, tracker } = capture();
        const conn = connected(caps)
          .request(packet(0, [2], 'shop')).response(ok(1))
          .request(comQuery('SELECT name FROM items')).response(resultSet(deprecateEof, 'name', ['a', 'b', 'c']))
          .request(comQuery("INSERT INTO items VALUES ('x'), ('y')")).response(ok(1, 'Records: 2  Duplicates: 0  Warnings: 0'))
          .request(comQuery('SELECT * FROM nope')).response(err(1, 1146, '42S02', "Table 'shop.nope' doesn't exist"))
          .request(packet(0, [0x0e])).response(ok(1))
          .close();
        replaySocketEvents(tracker, conn.events);
        assert.deepEqual(summary(records), [
          '2 | shop | 2 | ',
          '3 | SELECT name FROM items | 2 | Resultset rows = 3',
          "3 | INSERT INTO items VALUES ('x'), ('y') | 2 | Records: 2  Duplicates: 0  Warnings: 0",
          "3 | SELECT * FROM nope | 3 | ERROR 1146 (42S02): Table 'shop.nope' doesn't exist",
          '14 |  | 2 | ',
        ]);
        for (const r of records) assert.ok(r.latencyNs > 0);
        assert.equal(tracker.stats()['protocol.mysql'], 1);
      });

      it('decodes COM_STMT_EXECUTE parameters with the types bound on the first execute', () => {
        const { records, tracker } = capture();
        const prepareOk = (): Uint8Array => {
          const parts = [packet(1, [0], u32(5), u16(1), u16(3), [0], u16(0))];
          let seq = 2;
          for (let k = 0; k < 3; k++) parts.push(columnDef(seq++, '?'));
          if (!deprecateEof) parts.push(eof(seq++));
          parts.push(columnDef(seq++, 'name'));
          if (!deprecateEof) parts.push(eof(seq++));
          return concat(parts);
        };
        // Params: LONGLONG 42, VAR_STRING "abc", NULL (bitmap bit 2).
        const execute1 = packet(0, [0x17], u32(5), [0], u32(1), [0b100], [1], u16(8), u16(253), u16(6), u32(42), u32(0), lenencString('abc'));
        const execute2 = packet(0, [0x17], u32(5), [0], u32(1), [0], [0], u32(0xffffffff), u32(0xffffffff), lenencString('d'));
        const binaryResult = (): Uint8Array => {
          const parts = [packet(1, [1]), columnDef(2, 'name')];
          let seq = 3;
          if (!deprecateEof) parts.push(eof(seq++));
          parts.push(packet(seq++, [0, 0], lenencString('w')));
          parts.push(deprecateEof ? okEof(seq) : eof(seq));
          return concat(parts);
        };
        const conn = connected(caps)
          .request(packet(0, [0x16], 'SELECT name FROM items WHERE id = ? AND tag = ? OR x = ?')).response(prepareOk())
          .request(execute1).response(binaryResult())
          .request(execute2).response(binaryResult())
          .request(packet(0, [0x19], u32(5)))
          .close();
        replaySocketEvents(tracker, conn.events);
        assert.deepEqual(summary(records), [
          '22 | SELECT name FROM items WHERE id = ? AND tag = ? OR x = ? | 2 | Prepared statement id = 5, params = 3, columns = 1',
          '23 | SELECT name FROM items WHERE id = ? AND tag = ? OR x = ? PARAMETERS: [42, abc, NULL] | 2 | Resultset rows = 1',
          '23 | SELECT name FROM items WHERE id = ? AND tag = ? OR x = ? PARAMETERS: [-1, d, NULL] | 2 | Resultset rows = 1',
          '25 | SELECT name FROM items WHERE id = ? AND tag = ? OR x = ? | 1 | ',
        ]);
      });
    });
  }

  it('sums the rows of every result set of a multi-result response', () => {
    const { records, tracker } = capture();
    const more = (seq: number): Uint8Array => packet(seq, [0xfe], u16(0), u16(2 | 8));
    const conn = connected(BASE_CAPS)
      .request(comQuery('CALL two_sets()'))
      .response(concat([packet(1, [1]), columnDef(2, 'a'), eof(3), row(4, '1'), more(5), packet(6, [1]), columnDef(7, 'b'), eof(8), row(9, '2'), row(10, '3'), more(11), ok(12)]))
      .close();
    replaySocketEvents(tracker, conn.events);
    assert.deepEqual(summary(records), ['3 | CALL two_sets() | 2 | Resultset rows = 3']);
  });

  it('treats packets of 16 MiB - 1 bytes as continued by the next packet, on both sides', () => {
    const { records, tracker } = capture();
    const MAX = 0xffffff;
    const bigQuery = new Uint8Array(4 + MAX);
    bigQuery.set([0xff, 0xff, 0xff, 0, 3]);
    bigQuery.fill(0x61, 5); // 'a'…
    const bigRow = new Uint8Array(4 + MAX);
    bigRow.set([0xff, 0xff, 0xff, 4, 0xfe, 0x10, 0, 0, 1, 0, 0, 0, 0]); // a lenenc string of 16 MiB + 16 bytes
    const conn = connected(BASE_CAPS)
      .request(bigQuery).request(packet(1, 'tail'))
      .response(ok(2))
      .request(comQuery('SELECT big'))
      .response(concat([packet(1, [1]), columnDef(2, 'big'), eof(3)]))
      .response(bigRow).response(packet(5, new Uint8Array(17))).response(eof(6))
      .close();
    replaySocketEvents(tracker, conn.events);
    assert.deepEqual(summary(records), [`3 | ${'a'.repeat(512)} | 2 | `, '3 | SELECT big | 2 | Resultset rows = 1']);
  });

  it('stops at a client SSL request', () => {
    const { records, tracker } = capture();
    const conn = new SyntheticConnection({ connId: 1, localPort: 3306 }).open()
      .response(greeting(BASE_CAPS | Capability.Ssl)).request(packet(1, u32(BASE_CAPS | Capability.Ssl), u32(1 << 24), [33], new Uint8Array(23)))
      .request(comQuery('SELECT 1')).close();
    replaySocketEvents(tracker, conn.events);
    assert.equal(records.length, 0);
    assert.equal(tracker.stats()['encrypted.mysql'], 1);
  });

  it('resynchronizes after lost bytes at the next command', () => {
    const { records, tracker } = capture();
    const conn = connected(BASE_CAPS)
      .request(comQuery('SELECT 1'), { capturedBytes: 6 }).response(resultSet(false, '1', ['1']))
      .request(comQuery('SELECT 2')).response(resultSet(false, '2', ['2']))
      .close();
    replaySocketEvents(tracker, conn.events);
    assert.deepEqual(summary(records), ['3 | SELECT 2 | 2 | Resultset rows = 1']);
  });
});

describe('MysqlSession fuzzing', () => {
  it('survives 1,000,000 random and mutated inputs without throwing, within bounds', function () {
    this.timeout(60_000);
    const random = seededRandom(0xdb5eed);
    const counters = new Counters();
    let records = 0;
    const env: SessionEnv = {
      sinks: { onMysql: () => { records++; } },
      counters,
      limits: { maxBodyBytes: 64, maxHeaderBytes: 256, maxPendingMessages: 4, maxPendingBytes: 4096 },
    };
    const conn = { connId: 1, pid: 1, fd: 1, processStartNs: 0, role: 2, family: 4, localAddr: '', localPort: 0, remoteAddr: '', remotePort: 0, openedNs: 0 } as ConnectionInfo;
    const valid = [
      greeting(BASE_CAPS | Capability.DeprecateEof), handshakeResponse(BASE_CAPS), ok(2), comQuery('SELECT 1'),
      resultSet(false, 'a', ['1', '2']), resultSet(true, 'a', ['1']), err(1, 1064, '42000', 'syntax'),
      packet(0, [0x16], 'SELECT ?'), packet(1, [0], u32(1), u16(0), u16(1), [0], u16(0)),
      packet(0, [0x17], u32(1), [0], u32(1), [0], [1], u16(3), u32(7)), packet(0, [0x17], u32(1), [0], u32(1), [0], [1], u16(0x0c), [7], u16(2024), [1, 2, 3, 4, 5]),
      packet(0, [0x19], u32(1)),
    ];
    const buffer = new Uint8Array(96);
    // Each input is one event's bytes (or a gap) on a random side; a fresh session every 8 inputs.
    const INPUTS = 1_000_000;
    let session = new MysqlSession(conn, env);
    let maxRetained = 0;
    for (let k = 0; k < INPUTS; k++) {
      if ((k & 7) === 0) {
        session.close(k);
        session = new MysqlSession(conn, env);
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
