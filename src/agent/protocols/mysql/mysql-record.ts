// One MySQL/MariaDB command paired with its response: the record the mysql
// session emits and the mysql_events writer stores (src/tables/mysql-events.ts).

/** Pixie's resp_status: 0 unknown, 1 none (the command has no response), 2 OK, 3 error. */
export const MysqlRespStatus = { Unknown: 0, None: 1, Ok: 2, Err: 3 } as const;
export type MysqlRespStatus = (typeof MysqlRespStatus)[keyof typeof MysqlRespStatus];

export interface MysqlRecord {
  /** The command byte (COM_QUERY = 3, COM_STMT_EXECUTE = 23, …). */
  reqCmd: number;
  /**
   * COM_QUERY/COM_STMT_PREPARE: the SQL text; COM_INIT_DB: the schema name;
   * COM_STMT_EXECUTE: the prepared text, then " PARAMETERS: [v1, v2]" (binary
   * values decoded by their bound type, NULL as NULL); COM_STMT_CLOSE/RESET:
   * the statement's text; others: empty.
   */
  reqBody: string;
  respStatus: MysqlRespStatus;
  /**
   * Error: "ERROR <code> (<SQLSTATE>): <message>"; a result set:
   * "Resultset rows = N" (N summed over every result set of the response); a
   * prepare: "Prepared statement id = I, params = P, columns = C"; an OK: its
   * human-readable info when the server sent one, else empty.
   */
  respBody: string;
  /** CLOCK_MONOTONIC ns of the event that carried the command's first byte. */
  reqStartNs: number;
  /** CLOCK_MONOTONIC ns of the event that carried the response's last packet (reqStartNs for commands without a response). */
  respEndNs: number;
  latencyNs: number;
}
