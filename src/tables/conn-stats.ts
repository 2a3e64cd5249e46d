import { defineTable } from './schema.ts';

/**
 * Pixie's conn_stats: cumulative TCP connection counters per process and
 * remote endpoint, one row per endpoint per reporting interval while it
 * changes (and one when its last connection closes). Counts every inet TCP
 * connection, whatever its protocol.
 */
export const connStats = defineTable({
  name: 'conn_stats',
  description: 'Cumulative TCP connection counts and bytes per process and remote endpoint, reported periodically.',
  columns: [
    { name: 'time_', type: 'time64ns', description: 'When the counters were read (ns since the Unix epoch).' },
    { name: 'upid', type: 'uint128', description: 'Unique process id: agent id, pid, process start time.' },
    { name: 'remote_addr', type: 'string', description: 'IP address of the peer.', dictionary: true },
    { name: 'remote_port', type: 'int64', description: 'Port of the peer.' },
    { name: 'trace_role', type: 'int64', description: 'Side of the connections the process is: 1 client, 2 server.' },
    { name: 'addr_family', type: 'int64', description: 'Address family: 1 IPv4, 2 IPv6 (Pixie numbering).' },
    { name: 'protocol', type: 'int64', description: 'Traffic protocol (Pixie numbering): 0 unknown, 1 HTTP, 2 HTTP/2, 3 MySQL, 5 PostgreSQL, 6 DNS, 7 Redis.' },
    { name: 'ssl', type: 'boolean', description: 'Whether the connections were TLS.' },
    { name: 'conn_open', type: 'int64', description: 'Connections opened so far.' },
    { name: 'conn_close', type: 'int64', description: 'Connections closed so far.' },
    { name: 'conn_active', type: 'int64', description: 'Connections open now (conn_open - conn_close).' },
    { name: 'bytes_sent', type: 'int64', description: 'Bytes the process sent over these connections so far.' },
    { name: 'bytes_recv', type: 'int64', description: 'Bytes the process received over these connections so far.' },
  ],
});
