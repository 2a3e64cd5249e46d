import { defineTable } from './schema.ts';
import { connectionColumns } from './common-columns.ts';

/** Pixie's pgsql_events: one row per PostgreSQL request with its response (see PgsqlRecord for the renderings). */
export const pgsqlEvents = defineTable({
  name: 'pgsql_events',
  description: 'PostgreSQL requests (Query, Parse, Execute) with their responses, one row per pair.',
  columns: [
    ...connectionColumns,
    { name: 'req_cmd', type: 'string', description: 'Request message type: Query, Parse or Execute.', dictionary: true },
    { name: 'req', type: 'string', description: 'SQL text; for Execute followed by " PARAMETERS: [..]" with the bound values.' },
    { name: 'resp', type: 'string', description: 'Command tags (e.g. "SELECT 3 [id, name]"), "PARSE COMPLETE", or "ERROR: message (SQLSTATE)".' },
    { name: 'latency', type: 'int64', description: 'Nanoseconds from the first request byte to the last response byte.' },
  ],
});
