// Cost of the statistics collectors, each against a same-run baseline:
// - conn_stats scan: one batch read of the kernel connection table
//   (SocketTracer.scanConnections) with N open loopback TCP connections, vs
//   reading /proc/net/tcp, the classic way to enumerate the same connections
//   (without byte counts).
// - process_stats: one sample of every process (stat + status + io, parsed,
//   rows written) vs reading only /proc/<pid>/stat of each, the least a
//   per-process sampler does.
import { readFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { SocketTracer } from '../src/agent/bpf/socket-tracer.ts';
import { EpochClock } from '../src/agent/clock.ts';
import { listProcPids, ProcessStatsSampler } from '../src/agent/stats/process-stats.sampler.ts';
import { TableStore } from '../src/agent/store/table-store.ts';
import { processStats } from '../src/tables/process-stats.ts';
import { requireRoot } from '../test/support/processes.ts';
import { printTable } from './support.ts';

const CONNECTIONS = 2000;
const ROUNDS = 50;

/** Mean wall milliseconds of `fn` over ROUNDS calls, after one warm-up. */
function timeMs(fn: () => void): number {
  fn();
  const t0 = performance.now();
  for (let i = 0; i < ROUNDS; i++) fn();
  return (performance.now() - t0) / ROUNDS;
}

async function openConnections(count: number): Promise<{ sockets: Socket[]; close: () => Promise<void> }> {
  const accepted: Socket[] = [];
  const server = createServer((socket) => { accepted.push(socket); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const sockets: Socket[] = [];
  for (let i = 0; i < count; i++) {
    sockets.push(await new Promise<Socket>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port }, () => resolve(socket));
      socket.once('error', reject);
    }));
  }
  for (const socket of sockets) socket.write('ZZZZ');
  return {
    sockets,
    close: async () => {
      for (const socket of [...sockets, ...accepted]) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export async function statsBench(): Promise<void> {
  requireRoot('the conn_stats scan benchmark (eBPF)');
  // selfPid 0: this process's own connections are the ones to track.
  const tracer = SocketTracer.open({ selfPid: 0 });
  let conns: Awaited<ReturnType<typeof openConnections>> | undefined;
  try {
    conns = await openConnections(CONNECTIONS);
    await new Promise((resolve) => setTimeout(resolve, 200));
    let seen = 0;
    let bytes = 0;
    const scanMs = timeMs(() => {
      bytes = 0;
      seen = tracer.scanConnections((_id, sent, recv) => { bytes += sent + recv; });
    });
    // Each client wrote 4 bytes its server end read: both ends' counters are in the table.
    if (seen < 2 * CONNECTIONS || bytes < 8 * CONNECTIONS) {
      throw new Error(`scan saw ${seen} connections and ${bytes} bytes, expected ≥ ${2 * CONNECTIONS} and ≥ ${8 * CONNECTIONS}`);
    }
    let lines = 0;
    const procNetMs = timeMs(() => { lines = readFileSync('/proc/net/tcp', 'latin1').split('\n').length; });
    if (lines < 2 * CONNECTIONS) throw new Error(`/proc/net/tcp has ${lines} lines, expected ≥ ${2 * CONNECTIONS}`);
    printTable(`conn_stats kernel table scan, ${seen} connections (both ends of ${CONNECTIONS})`, [
      ['', 'ms per read', 'µs per connection', 'ratio'],
      ['/proc/net/tcp read (baseline)', procNetMs, (procNetMs * 1000) / seen, 1],
      ['scanConnections (batch lookup)', scanMs, (scanMs * 1000) / seen, scanMs / procNetMs],
    ]);
  } finally {
    await conns?.close();
    tracer.close();
  }

  const store = new TableStore();
  store.register(processStats);
  const sampler = new ProcessStatsSampler({ store, clock: new EpochClock(), agentId: 1 });
  const pids = listProcPids('/proc');
  const sampleMs = timeMs(() => sampler.sample(EpochClock.monotonicNs()));
  const statOnlyMs = timeMs(() => {
    for (const pid of listProcPids('/proc')) {
      try { readFileSync(`/proc/${pid}/stat`, 'latin1'); } catch { /* exited */ }
    }
  });
  printTable(`process_stats sample, ${pids.length} processes`, [
    ['', 'ms per sample', 'µs per process', 'ratio'],
    ['list + read stat only (baseline)', statOnlyMs, (statOnlyMs * 1000) / pids.length, 1],
    ['ProcessStatsSampler.sample', sampleMs, (sampleMs * 1000) / pids.length, sampleMs / statOnlyMs],
  ]);
}
