// Seeded, reproducible fuzzing of the RESP parser through the Redis session:
// valid commands and replies with bytes replaced or the tail cut, random
// bytes, split at random points, with random gaps. Nothing may throw, what a
// session holds stays bounded, malformed input is counted, and every row's
// req_args stays valid JSON.
import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { Counters } from '../../conn/counters.ts';
import { seededRandom } from '../../conn/test-helpers.ts';
import type { ConnectionInfo, SessionEnv } from '../protocol.ts';
import { StreamSide } from '../protocol.ts';
import { RedisSession } from './redis-session.ts';

const SEED = 0x5eed_4ed1;
const INPUTS = 1_000_000;
const INPUTS_PER_SESSION = 32;

const CONN: ConnectionInfo = Object.freeze({
  connId: 1, pid: 1, fd: 3, processStartNs: 0, role: 1, family: 4,
  localAddr: '127.0.0.1', localPort: 1, remoteAddr: '127.0.0.1', remotePort: 6379, openedNs: 0,
}) as ConnectionInfo;

function command(...words: string[]): string {
  return `*${words.length}\r\n${words.map((w) => `$${Buffer.byteLength(w)}\r\n${w}\r\n`).join('')}`;
}

const REQUESTS = [
  command('SET', 'key', 'value'), command('GET', 'key'), command('CONFIG', 'GET', 'maxmemory'),
  command('SUBSCRIBE', 'a', 'b'), command('MSET', 'k1', 'x'.repeat(90), 'k2', 'y'), command('PING') + command('INCR', 'n'),
].map((s) => Buffer.from(s));
const RESPONSES = [
  '+OK\r\n', '-ERR unknown command\r\n', ':-17\r\n', '$5\r\nhello\r\n', '$-1\r\n', '*-1\r\n',
  '*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n', '*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n',
  '*2\r\n*2\r\n:1\r\n:2\r\n%1\r\n+k\r\n#f\r\n', '>3\r\n$7\r\nmessage\r\n$1\r\nb\r\n_\r\n', '|1\r\n+a\r\n:1\r\n,1.5\r\n',
  '=8\r\ntxt:text\r\n', '!3\r\nerr\r\n', '(123\r\n', `$100\r\n${'z'.repeat(100)}\r\n`,
].map((s) => Buffer.from(s));

/** Copies `input` into `scratch` with 1-3 bytes replaced and maybe the tail cut; returns the length. */
function mutate(input: Uint8Array, scratch: Uint8Array, random: () => number): number {
  scratch.set(input);
  let length = input.length;
  const edits = 1 + Math.floor(random() * 3);
  for (let e = 0; e < edits; e++) scratch[Math.floor(random() * length)] = random() < 0.5 ? Math.floor(random() * 256) : 0x2a + Math.floor(random() * 4);
  if (random() < 0.2) length = Math.floor(random() * length);
  return length;
}

describe('RESP parser fuzzing', () => {
  it(`survives ${INPUTS.toLocaleString('en')} mutated and random inputs with bounded state`, function () {
    this.timeout(60_000);
    const random = seededRandom(SEED);
    const counters = new Counters();
    let rows = 0;
    const env: SessionEnv = {
      sinks: {
        onRedis(record) {
          rows++;
          if ((rows & 63) === 0) JSON.parse(record.reqArgs);
        },
      },
      counters,
      limits: { maxBodyBytes: 64, maxHeaderBytes: 256, maxPendingMessages: 8, maxPendingBytes: 4096 },
    };
    const bound = env.limits.maxPendingBytes + 2 * (env.limits.maxHeaderBytes + 3 * env.limits.maxBodyBytes + 512);
    const scratch = new Uint8Array(512);
    let session = new RedisSession(CONN, env);
    let ts = 1;
    for (let n = 0; n < INPUTS; n++) {
      if (n % INPUTS_PER_SESSION === 0) {
        session.close(ts);
        session = new RedisSession(CONN, env);
      }
      const side = random() < 0.5 ? StreamSide.Request : StreamSide.Response;
      const pick = random();
      let length: number;
      if (pick < 0.1) {
        length = Math.floor(random() * 48);
        for (let i = 0; i < length; i++) scratch[i] = Math.floor(random() * 256);
      } else {
        const pool = side === StreamSide.Request ? REQUESTS : RESPONSES;
        const input = pool[Math.floor(random() * pool.length)]!;
        if (pick < 0.35) {
          scratch.set(input);
          length = input.length;
        } else {
          length = mutate(input, scratch, random);
        }
      }
      const split = Math.floor(random() * (length + 1));
      session.data(side, scratch, 0, split, ts++);
      if (random() < 0.05) session.gap(side, 1 + Math.floor(random() * 200), ts);
      session.data(side, scratch, split, length, ts++);
      if (session.retainedBytes() > bound) assert.fail(`retained ${session.retainedBytes()} at input ${n}`);
    }
    session.close(ts);
    const stats = counters.snapshot();
    const errors = Object.entries(stats).filter(([k]) => k.startsWith('parse_error.redis.')).reduce((sum, [, v]) => sum + v, 0);
    assert.ok(rows > 10_000, `rows ${rows}`);
    assert.ok(errors > 10_000, `parse errors ${errors}`);
    assert.ok((stats['resync_skipped_bytes.redis'] ?? 0) > 0);
  });
});
