import { defineTable } from './schema.ts';
import { connectionColumns } from './common-columns.ts';

/** Pixie's redis_events: one row per command with its reply, or per pushed pub/sub message. */
export const redisEvents = defineTable({
  name: 'redis_events',
  description: 'Redis commands with their replies (RESP2/RESP3), and messages pushed to subscribers.',
  columns: [
    ...connectionColumns,
    { name: 'req_cmd', type: 'string', description: 'Command, upper-case, with the subcommand of container commands ("CONFIG GET"); "PUSH PUB" for a published message pushed to a subscriber.', dictionary: true },
    { name: 'req_args', type: 'string', description: 'Arguments after the command as a JSON array of strings, cut at the body capture limit.' },
    { name: 'resp', type: 'string', description: 'Reply as text: simple strings, integers and bulk strings as is, errors as "-ERR …", nil as <NULL>, aggregates as JSON arrays.' },
    { name: 'latency', type: 'int64', description: 'Nanoseconds from the first command byte to the last reply byte; 0 for pushed messages.' },
  ],
});
