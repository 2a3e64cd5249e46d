import { defineTable } from './schema.ts';

/** Pixie's process_stats: per-process resource counters sampled from /proc. */
export const processStats = defineTable({
  name: 'process_stats',
  description: 'Per-process CPU, memory, fault and I/O counters, sampled periodically from /proc.',
  columns: [
    { name: 'time_', type: 'time64ns', description: 'When the sample was taken (ns since the Unix epoch).' },
    { name: 'upid', type: 'uint128', description: 'Unique process id: agent id, pid, process start time.' },
    { name: 'major_faults', type: 'int64', description: 'Page faults that needed I/O, since the process started.' },
    { name: 'minor_faults', type: 'int64', description: 'Page faults served from memory, since the process started.' },
    { name: 'cpu_utime_ns', type: 'int64', description: 'CPU time in user mode, since the process started (ns).' },
    { name: 'cpu_ktime_ns', type: 'int64', description: 'CPU time in kernel mode, since the process started (ns).' },
    { name: 'num_threads', type: 'int64', description: 'Threads of the process now.' },
    { name: 'vsize_bytes', type: 'int64', description: 'Virtual memory size now.' },
    { name: 'rss_bytes', type: 'int64', description: 'Resident set size now.' },
    { name: 'rchar_bytes', type: 'int64', description: 'Bytes read through read-family syscalls (any file), since start.' },
    { name: 'wchar_bytes', type: 'int64', description: 'Bytes written through write-family syscalls (any file), since start.' },
    { name: 'read_bytes', type: 'int64', description: 'Bytes fetched from storage, since start.' },
    { name: 'write_bytes', type: 'int64', description: 'Bytes sent to storage, since start.' },
  ],
});
