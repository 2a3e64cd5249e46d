import { defineTable } from './schema.ts';

/** Pixie's proc_exit_events: one row per process exit (sched_process_exit). */
export const procExitEvents = defineTable({
  name: 'proc_exit_events',
  description: 'Process exits with their exit code or terminating signal.',
  columns: [
    { name: 'time_', type: 'time64ns', description: 'When the process exited (ns since the Unix epoch).' },
    { name: 'upid', type: 'uint128', description: 'Unique process id: agent id, pid, process start time.' },
    { name: 'exit_code', type: 'int64', description: 'Exit status (0-255) when the process exited by itself; 0 when killed by a signal.' },
    { name: 'signal', type: 'int64', description: 'Signal that terminated the process; 0 when it exited by itself.' },
    { name: 'comm', type: 'string', description: 'Command name of the process (at most 15 bytes).', dictionary: true },
  ],
});
