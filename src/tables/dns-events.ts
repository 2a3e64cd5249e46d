import { defineTable } from './schema.ts';
import { connectionColumns } from './common-columns.ts';

/** Pixie's dns_events: one row per query with its response, over UDP or TCP. */
export const dnsEvents = defineTable({
  name: 'dns_events',
  description: 'DNS queries with their responses (UDP and TCP), paired by transaction id.',
  columns: [
    ...connectionColumns,
    { name: 'req_header', type: 'string', description: 'Query header as JSON: txid, qr, opcode, aa, tc, rd, ra, ad, cd, rcode, num_queries, num_answers, num_auth, num_addl.' },
    { name: 'req_body', type: 'string', description: 'Questions as JSON: {"queries":[{"name","type"}]}.' },
    { name: 'resp_header', type: 'string', description: 'Response header as JSON (same fields as req_header; rcode 3 is NXDOMAIN).' },
    { name: 'resp_body', type: 'string', description: 'Answers as JSON: {"answers":[{"name","type","addr"|"cname"|…}]}.' },
    { name: 'latency', type: 'int64', description: 'Nanoseconds from the query to the response.' },
  ],
});
