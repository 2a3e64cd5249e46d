// Seeded, reproducible fuzzing of the HTTP/2 frame parser, the session and
// the HPACK decoder: random bytes, and valid traffic with bytes flipped,
// inserted, cut or lost, split at random points. Nothing may throw, and a
// session that gave up must say so (stopped) and stay quiet.
import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { Counters } from '../../conn/counters.ts';
import { seededRandom } from '../../conn/test-helpers.ts';
import type { ConnectionInfo, SessionEnv } from '../protocol.ts';
import { StreamSide } from '../protocol.ts';
import { HeaderList, HpackDecoder } from './hpack.decoder.ts';
import { Http2Session } from './http2-session.ts';
import { CLIENT_PREFACE, concat, Flag, frame, FrameType, grpcMessage, headerBlock, indexedField, text } from './test-helpers.ts';

const SEED = 0x5eed_2002;
const SESSION_INPUTS = 400_000;
const HPACK_INPUTS = 600_000;

const CONN: ConnectionInfo = Object.freeze({
  connId: 1, pid: 1, fd: 3, processStartNs: 0, role: 1, family: 4,
  localAddr: '127.0.0.1', localPort: 1, remoteAddr: '127.0.0.1', remotePort: 2, openedNs: 0,
}) as ConnectionInfo;

/** Valid request/response byte streams to mutate. */
function corpus(): [Uint8Array, Uint8Array][] {
  const settings = frame(FrameType.Settings, 0, 0, new Uint8Array(12));
  const EH = Flag.EndHeaders;
  const ES = Flag.EndStream;
  const block = headerBlock([[':method', 'POST'], [':path', '/pkg.Svc/M'], ['content-type', 'application/grpc'], ['x', 'y'.repeat(40)]], { indexed: true });
  const request = concat(
    CLIENT_PREFACE, settings,
    frame(FrameType.Headers, Flag.Priority, 1, concat(new Uint8Array(5), block.subarray(0, 20))),
    frame(FrameType.Continuation, EH, 1, block.subarray(20)),
    frame(FrameType.Data, ES | Flag.Padded, 1, concat(Uint8Array.of(2), grpcMessage(text('\n\u0003abc')), new Uint8Array(2))),
    frame(FrameType.Headers, EH | ES, 3, concat(indexedField(65), indexedField(64), indexedField(63))),
    frame(FrameType.RstStream, 0, 3, new Uint8Array(4)),
  );
  const response = concat(
    settings, frame(FrameType.Settings, Flag.Ack, 0),
    frame(FrameType.Headers, EH, 1, headerBlock([[':status', '200'], ['content-type', 'application/grpc']], { indexed: true })),
    frame(FrameType.Data, 0, 1, grpcMessage(text('\n\u0002hi'))),
    frame(FrameType.Headers, EH | ES, 1, headerBlock([['grpc-status', '0']])),
    frame(FrameType.Headers, EH, 3, concat(Uint8Array.of(0x3f, 0xe1, 0x01), indexedField(63))),
    frame(FrameType.Ping, 0, 0, new Uint8Array(8)),
    frame(FrameType.Goaway, 0, 0, new Uint8Array(8)),
  );
  return [[request, response]];
}

/** Copies `input` into `scratch` with 1-4 bytes replaced, inserted or the tail cut; returns a view of the result. */
function mutate(input: Uint8Array, scratch: Uint8Array, random: () => number): Uint8Array {
  scratch.set(input);
  let length = input.length;
  const edits = 1 + Math.floor(random() * 4);
  for (let e = 0; e < edits && length > 0; e++) {
    const at = Math.floor(random() * length);
    const kind = random();
    if (kind < 0.6) {
      scratch[at] = Math.floor(random() * 256);
    } else if (kind < 0.8) {
      length = at;
    } else {
      scratch.copyWithin(at + 1, at, length);
      scratch[at] = Math.floor(random() * 256);
      length++;
    }
  }
  return scratch.subarray(0, length);
}

/** Up to `maxLength` random bytes after `prefix` (which stays in place), in `scratch`. */
function randomBytes(random: () => number, maxLength: number, scratch: Uint8Array, prefix = 0): Uint8Array {
  const length = prefix + Math.floor(random() * maxLength);
  for (let k = prefix; k < length; k++) scratch[k] = Math.floor(random() * 256);
  return scratch.subarray(0, length);
}

/** Feeds `bytes` in random pieces, sometimes declaring a piece lost. */
function feed(session: Http2Session, side: StreamSide, bytes: Uint8Array, random: () => number, clock: { ns: number }): void {
  let at = 0;
  while (at < bytes.length && !session.stopped) {
    const n = 1 + Math.floor(random() * Math.min(64, bytes.length - at));
    if (random() < 0.01) session.gap(side, n, clock.ns++);
    else session.data(side, bytes, at, at + n, clock.ns++);
    at += n;
  }
}

describe('HTTP/2 parsers under fuzzing', function () {
  this.timeout(60_000);

  it(`survive ${SESSION_INPUTS + HPACK_INPUTS} seeded random and mutated inputs (seed ${SEED})`, () => {
    const random = seededRandom(SEED);
    const counters = new Counters();
    let records = 0;
    const env: SessionEnv = {
      sinks: { onHttp: (exchange) => { records++; assert.equal(exchange.majorVersion, 2); } },
      counters,
      limits: { maxBodyBytes: 64, maxHeaderBytes: 1024, maxPendingMessages: 8, maxPendingBytes: 4096 },
    };
    const clock = { ns: 1 };
    const [[request, response]] = corpus() as [[Uint8Array, Uint8Array]];
    const scratch = [new Uint8Array(1024), new Uint8Array(1024)] as const;
    for (let i = 0; i < SESSION_INPUTS; i++) {
      const session = new Http2Session(CONN, env);
      const mode = i % 4;
      if (mode === 0) {
        // Random frames after a valid preface, on both sides.
        scratch[0].set(CLIENT_PREFACE);
        feed(session, StreamSide.Request, randomBytes(random, 96, scratch[0], CLIENT_PREFACE.length), random, clock);
        feed(session, StreamSide.Response, randomBytes(random, 96, scratch[1]), random, clock);
      } else {
        // Mode 1: both sides mutated; 2: the request side only; 3: valid traffic (split, with gaps).
        const req = mode === 3 ? request : mutate(request, scratch[0], random);
        const resp = mode === 1 ? mutate(response, scratch[1], random) : response;
        feed(session, StreamSide.Request, req, random, clock);
        feed(session, StreamSide.Response, resp, random, clock);
      }
      assert.ok(session.retainedBytes() >= 0);
      session.close(clock.ns++);
      assert.equal(session.stopped, true);
    }

    const decoder = new HpackDecoder();
    const fields = new HeaderList();
    const valid = headerBlock([['name', 'value'], [':path', '/x']], { indexed: true });
    for (let i = 0; i < HPACK_INPUTS; i++) {
      const block = i % 2 === 0 ? randomBytes(random, 32, scratch[0]) : mutate(valid, scratch[0], random);
      const error = decoder.decode(block, 0, block.length, fields);
      assert.ok(decoder.dynamicTableBytes <= decoder.dynamicTableLimit);
      if (error !== null) assert.match(error, /^hpack_/);
    }
    // The unmutated inputs must have produced records: the harness really parses.
    assert.ok(records >= SESSION_INPUTS / 5, `records: ${records}`);
  });
});
