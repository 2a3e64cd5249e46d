import type { ColumnSpec } from './schema.ts';

/** Columns every protocol table starts with (Pixie's order). */
export const connectionColumns: readonly ColumnSpec[] = [
  { name: 'time_', type: 'time64ns', description: 'When the response completed (ns since the Unix epoch).' },
  { name: 'upid', type: 'uint128', description: 'Unique process id: agent id, pid, process start time.' },
  { name: 'remote_addr', type: 'string', description: 'IP address of the peer.', dictionary: true },
  { name: 'remote_port', type: 'int64', description: 'Port of the peer.' },
  { name: 'local_addr', type: 'string', description: 'IP address of the traced side.', dictionary: true },
  { name: 'local_port', type: 'int64', description: 'Port of the traced side.' },
  { name: 'trace_role', type: 'int64', description: 'Side that was traced: 1 client, 2 server.' },
  { name: 'encrypted', type: 'boolean', description: 'Whether the traffic was TLS (plaintext taken from the TLS library).' },
];
