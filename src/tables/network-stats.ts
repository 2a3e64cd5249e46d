import { defineTable } from './schema.ts';

/** Pixie's network_stats: interface counters per pod network namespace. */
export const networkStats = defineTable({
  name: 'network_stats',
  description: 'Network interface counters summed per network namespace (pod), sampled periodically.',
  columns: [
    { name: 'time_', type: 'time64ns', description: 'When the sample was taken (ns since the Unix epoch).' },
    { name: 'pod_id', type: 'string', description: 'Kubernetes pod UID owning the network namespace; empty for the host or an unknown namespace.', dictionary: true },
    { name: 'rx_bytes', type: 'int64', description: 'Bytes received, since the interfaces were created.' },
    { name: 'rx_packets', type: 'int64', description: 'Packets received.' },
    { name: 'rx_errors', type: 'int64', description: 'Receive errors.' },
    { name: 'rx_drops', type: 'int64', description: 'Received packets dropped.' },
    { name: 'tx_bytes', type: 'int64', description: 'Bytes sent.' },
    { name: 'tx_packets', type: 'int64', description: 'Packets sent.' },
    { name: 'tx_errors', type: 'int64', description: 'Send errors.' },
    { name: 'tx_drops', type: 'int64', description: 'Packets dropped on send.' },
  ],
});
