// Redis over one connection: a RESP parser per side and FIFO pairing of
// commands with replies (pipelining keeps order: N commands written at once
// pair with the next N replies). Pairing is checked by time as for HTTP/1: a
// reply that ended before the oldest pending command started cannot answer
// it and is counted unmatched.
//
// Pub/sub (docs/adr/0013-redis-and-dns-capture.md): (P|S)(UN)SUBSCRIBE with k
// channels is answered by k confirmations; the command's row carries them
// (one confirmation as its own JSON array, several as an array of arrays).
// A reply that is a RESP3 push (">"), or, on a subscribed connection, a RESP2
// array whose first element is a pub/sub kind, and that no pending command
// expects, becomes a row of its own: req_cmd "PUSH PUB" for published
// messages (message, pmessage, smessage), "PUSH <KIND>" for anything else,
// req_args "[]", latency 0.

import type { ConnectionInfo, ProtocolSession, ProtocolSpec, SessionEnv } from '../protocol.ts';
import { InferResult, StreamSide } from '../protocol.ts';
import type { RedisRecord } from './redis-record.ts';
import { PUSH_PUB_CMD } from './redis-record.ts';
import type { RespMessage, RespParserListener } from './resp.parser.ts';
import { DEFAULTS as PARSER_DEFAULTS, ELIDED, RespParser, RespSide } from './resp.parser.ts';

/** Commands whose second word names a subcommand (req_cmd "CONFIG GET", as Pixie does). */
const CONTAINER_COMMANDS: ReadonlySet<string> = new Set([
  'ACL', 'CLIENT', 'CLUSTER', 'COMMAND', 'CONFIG', 'FUNCTION', 'LATENCY', 'MEMORY', 'MODULE',
  'OBJECT', 'PUBSUB', 'SCRIPT', 'SLOWLOG', 'XGROUP', 'XINFO',
]);

const SUBSCRIBE_COMMANDS: ReadonlySet<string> = new Set([
  'SUBSCRIBE', 'PSUBSCRIBE', 'SSUBSCRIBE', 'UNSUBSCRIBE', 'PUNSUBSCRIBE', 'SUNSUBSCRIBE',
]);

const MESSAGE_KINDS: ReadonlySet<string> = new Set(['message', 'pmessage', 'smessage']);
const CONFIRMATION_KINDS: ReadonlySet<string> = new Set([
  'subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe',
]);

const TYPE_ARRAY = 0x2a;
const TYPE_PUSH = 0x3e;

interface PendingCommand {
  readonly cmd: string;
  readonly args: string;
  readonly startNs: number;
  /** Subscribe family: confirmations still expected; 0 otherwise. */
  expect: number;
  /** Subscribe family: confirmations received so far. */
  readonly replies: string[];
  readonly retainedBytes: number;
}

export class RedisSession implements ProtocolSession, RespParserListener {
  private readonly conn: ConnectionInfo;
  private readonly env: SessionEnv;
  private readonly requestParser: RespParser;
  private readonly responseParser: RespParser;
  private readonly pending: PendingCommand[] = [];
  private pendingBytes = 0;
  /** A subscribe confirmation was seen and subscriptions have not dropped to 0. */
  private subscribed = false;

  constructor(conn: ConnectionInfo, env: SessionEnv) {
    this.conn = conn;
    this.env = env;
    const options = { ...PARSER_DEFAULTS, maxBodyBytes: env.limits.maxBodyBytes, maxLineBytes: env.limits.maxHeaderBytes };
    this.requestParser = new RespParser(RespSide.Request, options, this, env.counters);
    this.responseParser = new RespParser(RespSide.Response, options, this, env.counters);
  }

  get stopped(): boolean {
    return false;
  }

  retainedBytes(): number {
    return this.pendingBytes + this.requestParser.retainedBytes() + this.responseParser.retainedBytes();
  }

  data(side: StreamSide, bytes: Uint8Array, start: number, end: number, timestampNs: number): void {
    (side === StreamSide.Request ? this.requestParser : this.responseParser).push(bytes, start, end, timestampNs);
  }

  gap(side: StreamSide, lengthBytes: number, timestampNs: number): void {
    (side === StreamSide.Request ? this.requestParser : this.responseParser).gap(lengthBytes, timestampNs);
  }

  close(_timestampNs: number): void {
    this.requestParser.end();
    this.responseParser.end();
    if (this.pending.length > 0) this.env.counters.inc('unmatched_request.redis', this.pending.length);
    this.pending.length = 0;
    this.pendingBytes = 0;
  }

  // --- RespParserListener

  onMessage(msg: RespMessage, side: RespSide): void {
    if (side === RespSide.Request) this.onCommand(msg);
    else this.onReply(msg);
  }

  onResync(side: RespSide): void {
    if (side === RespSide.Response) {
      // Replies were lost: which pending command the next reply answers is unknown.
      this.dropPending('unmatched_request.redis', this.pending.length);
    }
  }

  private onCommand(msg: RespMessage): void {
    const counters = this.env.counters;
    const words = msg.elements;
    if (msg.type !== TYPE_ARRAY || words.length === 0) {
      counters.inc('parse_error.redis.not_a_command');
      return;
    }
    let cmd = words[0]!.toUpperCase();
    let first = 1;
    if (CONTAINER_COMMANDS.has(cmd) && words.length > 1 && isWord(words[1]!)) {
      cmd = `${cmd} ${words[1]!.toUpperCase()}`;
      first = 2;
    }
    const rest = words.slice(first);
    if (msg.elided) rest.push(ELIDED);
    const args = JSON.stringify(rest);
    const channels = words.length - 1;
    const pending: PendingCommand = {
      cmd,
      args,
      startNs: msg.startNs,
      expect: SUBSCRIBE_COMMANDS.has(cmd) ? Math.max(1, channels) : 0,
      replies: [],
      retainedBytes: cmd.length + args.length + 64,
    };
    this.pending.push(pending);
    this.pendingBytes += pending.retainedBytes;
    const limits = this.env.limits;
    while (this.pending.length > limits.maxPendingMessages || (this.pendingBytes > limits.maxPendingBytes && this.pending.length > 1)) {
      this.dropPending('pending_overflow.redis', 1);
    }
  }

  private onReply(msg: RespMessage): void {
    const counters = this.env.counters;
    const kind = pushKind(msg, this.subscribed);
    const head = this.pending[0];
    if (kind !== '') {
      if (CONFIRMATION_KINDS.has(kind)) {
        // The confirmation's last element is the number of subscriptions left.
        this.subscribed = kind.includes('unsub') ? msg.lastInteger !== 0 : true;
      }
      if (head !== undefined && head.expect > 0 && CONFIRMATION_KINDS.has(kind) && head.startNs <= msg.endNs) {
        head.replies.push(msg.text);
        head.expect--;
        if (head.expect === 0) {
          this.shift();
          const resp = head.replies.length === 1 ? head.replies[0]! : `[${head.replies.join(',')}]`;
          this.emit(head.cmd, head.args, resp, head.startNs, msg.endNs);
        }
        return;
      }
      const cmd = MESSAGE_KINDS.has(kind) ? PUSH_PUB_CMD : `PUSH ${kind.toUpperCase()}`;
      this.emit(cmd, '[]', msg.text, msg.endNs, msg.endNs);
      return;
    }
    // A reply that ended before the oldest pending command started answers a command we never saw.
    if (head === undefined || head.startNs > msg.endNs) {
      counters.inc('unmatched_response.redis');
      return;
    }
    this.shift();
    if (head.replies.length > 0) {
      // A subscribe answered partly, then an ordinary reply (for the next command): close it with what it got.
      counters.inc('partial_reply.redis');
      this.emit(head.cmd, head.args, `[${head.replies.join(',')}]`, head.startNs, msg.startNs);
      this.onReply(msg);
      return;
    }
    this.emit(head.cmd, head.args, msg.text, head.startNs, msg.endNs);
  }

  private shift(): void {
    const req = this.pending.shift();
    if (req !== undefined) this.pendingBytes -= req.retainedBytes;
  }

  private dropPending(counter: string, count: number): void {
    const n = Math.min(count, this.pending.length);
    if (n === 0) return;
    for (let k = 0; k < n; k++) this.shift();
    this.env.counters.inc(counter, n);
  }

  private emit(reqCmd: string, reqArgs: string, resp: string, reqStartNs: number, respEndNs: number): void {
    const counters = this.env.counters;
    counters.inc('records.redis');
    const onRedis = this.env.sinks.onRedis;
    if (onRedis === undefined) return;
    const record: RedisRecord = {
      reqCmd,
      reqArgs,
      resp,
      reqStartNs,
      respEndNs,
      latencyNs: respEndNs - reqStartNs,
    };
    try {
      onRedis.call(this.env.sinks, record, this.conn);
    } catch {
      counters.inc('sink_error.redis');
    }
  }
}

/** Lower-case pub/sub kind of a pushed reply, or '' when the reply is an ordinary one. */
function pushKind(msg: RespMessage, subscribed: boolean): string {
  if (msg.type === TYPE_PUSH) return (msg.elements[0] ?? 'push').toLowerCase();
  if (msg.type !== TYPE_ARRAY || msg.elements.length < 3) return '';
  const kind = msg.elements[0]!.toLowerCase();
  if (MESSAGE_KINDS.has(kind)) return subscribed ? kind : '';
  return CONFIRMATION_KINDS.has(kind) ? kind : '';
}

/** A subcommand name: letters, digits, '-' or '_', starting with a letter. */
function isWord(text: string): boolean {
  if (text.length === 0 || text.length > 32) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i) | 0x20;
    const letter = c >= 0x61 && c <= 0x7a;
    if (letter) continue;
    if (i === 0) return false;
    const ch = text.charCodeAt(i);
    if (!((ch >= 0x30 && ch <= 0x39) || ch === 0x2d || ch === 0x5f)) return false;
  }
  return true;
}

/**
 * Inference: a client command is an array of bulk strings, "*<count>\r\n$".
 * Redis servers never speak first, so replies are not inferred.
 */
export function inferRedis(bytes: Uint8Array, start: number, end: number): InferResult {
  const n = end - start;
  if (n === 0) return InferResult.NeedMore;
  if (bytes[start] !== 0x2a) return InferResult.NoMatch;
  let i = start + 1;
  while (i < end && i - start <= 4 && bytes[i]! >= 0x30 && bytes[i]! <= 0x39) i++;
  const digits = i - start - 1;
  if (i === end) return digits <= 4 ? InferResult.NeedMore : InferResult.NoMatch;
  if (digits === 0 || digits > 4 || bytes[i] !== 0x0d) return InferResult.NoMatch;
  if (i + 1 === end) return InferResult.NeedMore;
  if (bytes[i + 1] !== 0x0a) return InferResult.NoMatch;
  if (i + 2 === end) return InferResult.NeedMore;
  return bytes[i + 2] === 0x24 ? InferResult.Request : InferResult.NoMatch;
}

export const redisProtocol: ProtocolSpec = Object.freeze({
  name: 'redis',
  maxInferBytes: 8, // "*1234\r\n$"
  infer: inferRedis,
  createSession: (conn: ConnectionInfo, env: SessionEnv): ProtocolSession => new RedisSession(conn, env),
});
