import { defineTable } from './schema.ts';
import { connectionColumns } from './common-columns.ts';

/** Pixie's mysql_events: one row per MySQL/MariaDB command with its response (see MysqlRecord for the renderings). */
export const mysqlEvents = defineTable({
  name: 'mysql_events',
  description: 'MySQL and MariaDB commands with their responses, one row per command.',
  columns: [
    ...connectionColumns,
    { name: 'req_cmd', type: 'int64', description: 'Command byte (3 COM_QUERY, 22 COM_STMT_PREPARE, 23 COM_STMT_EXECUTE, …).' },
    { name: 'req_body', type: 'string', description: 'SQL text or schema name; for COM_STMT_EXECUTE followed by " PARAMETERS: [..]".' },
    { name: 'resp_status', type: 'int64', description: 'Response status: 0 unknown, 1 none, 2 OK, 3 error.' },
    { name: 'resp_body', type: 'string', description: 'Error "ERROR code (SQLSTATE): message", "Resultset rows = N", or the OK info.' },
    { name: 'latency', type: 'int64', description: 'Nanoseconds from the first request byte to the last response byte.' },
  ],
});
