// One PostgreSQL request paired with its response: the record the pgsql
// session emits and the pgsql_events writer stores (src/tables/pgsql-events.ts).

export interface PgsqlRecord {
  /** Message type name of the request, as the protocol documentation spells it: "Query", "Parse", "Execute". */
  reqCmd: string;
  /**
   * SQL text. For Execute: the prepared statement's text, then
   * " PARAMETERS: [v1, v2]" when the Bind carried parameters (text values as
   * sent, binary ones decoded by their declared type, NULL as NULL).
   */
  req: string;
  /**
   * CommandComplete tags joined by "; " (e.g. "SELECT 3"), with the result
   * columns appended as " [a, b]" when a RowDescription came back;
   * "PARSE COMPLETE"; "EMPTY QUERY"; or the error as "ERROR: message (SQLSTATE)".
   */
  resp: string;
  /** CLOCK_MONOTONIC ns of the event that carried the request message's first byte. */
  reqStartNs: number;
  /** CLOCK_MONOTONIC ns of the event that carried the response's last message. */
  respEndNs: number;
  latencyNs: number;
}
