// One Redis command paired with its reply, or one pushed message: the record
// the Redis session emits and redis_events stores (src/tables/redis-events.ts).

/** req_cmd of a published message pushed to a subscribed client (no request). */
export const PUSH_PUB_CMD = 'PUSH PUB';

export interface RedisRecord {
  /** Upper-case command; container commands keep their subcommand ("CONFIG GET"); pushes: "PUSH PUB" or "PUSH <KIND>". */
  reqCmd: string;
  /** The remaining arguments as a JSON array of strings ("[]" for pushes). */
  reqArgs: string;
  /** The reply rendered as text (resp.parser.ts). */
  resp: string;
  /** CLOCK_MONOTONIC ns of the event that carried the first request byte (pushes: first reply byte). */
  reqStartNs: number;
  /** CLOCK_MONOTONIC ns of the event that carried the last reply byte. */
  respEndNs: number;
  /** respEndNs - reqStartNs; 0 for pushes. */
  latencyNs: number;
}
