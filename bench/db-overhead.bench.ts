// Overhead on traced small-request servers, the worst case for an eBPF
// tracer: redis-server under redis-benchmark and PostgreSQL under pgbench
// (select-only), with no agent and with the full agent, interleaved over
// rounds in the same run so machine noise hits both alike. Target: the agent
// costs at most 5 % of throughput.
// Run: node bench/run.ts db-overhead   (DB_OVERHEAD_SECONDS=… per sample)
import { AgentProcess } from '../test/support/agent.ts';
import { PostgresProcess } from '../test/support/postgres.ts';
import { requireCommand, requireRoot, run } from '../test/support/processes.ts';
import { RedisProcess } from '../test/support/redis.ts';
import { readFileSync } from 'node:fs';
import { printTable } from './support.ts';

const ROUNDS = 3;
const SECONDS = Number(process.env.DB_OVERHEAD_SECONDS ?? 8);
type Mode = 'none' | 'agent';
const MODES: readonly Mode[] = ['none', 'agent'];

/** redis-benchmark SET+GET over 50 connections for about SECONDS: requests per second (sum of both tests' rates, halved). */
async function redisRate(port: number): Promise<number> {
  const bench = requireCommand('redis-benchmark', 'redis-tools');
  // ~40k req/s per test here: size the request count to last about SECONDS in all.
  const result = await run(bench, ['-h', '127.0.0.1', '-p', String(port), '-c', '50', '-n', String(20_000 * SECONDS), '-t', 'set,get', '--csv', '-q'], { timeoutMs: 20 * SECONDS * 1000 });
  if (result.code !== 0) throw new Error(`redis-benchmark failed: ${result.stderr.trim()}`);
  const rates = [...result.stdout.matchAll(/^"(SET|GET)","([\d.]+)"/gm)].map((m) => Number(m[2]));
  if (rates.length !== 2) throw new Error(`redis-benchmark printed no SET/GET rates: ${result.stdout.trim()}`);
  return (rates[0]! + rates[1]!) / 2;
}

/** pgbench select-only, 8 clients, SECONDS: transactions per second. */
async function pgbenchRate(port: number): Promise<number> {
  const pgbench = requireCommand('pgbench', 'postgresql-contrib');
  const result = await run(pgbench, ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-S', '-c', '8', '-j', '2', '-T', String(SECONDS), 'postgres'], { timeoutMs: 4 * SECONDS * 1000 + 30_000 });
  if (result.code !== 0) throw new Error(`pgbench failed: ${result.stderr.trim()}`);
  const tps = /tps = ([\d.]+)/.exec(result.stdout);
  if (!tps) throw new Error(`pgbench printed no tps: ${result.stdout.trim()}`);
  return Number(tps[1]);
}

/** CPU seconds (user + system) process `pid` has used so far, from /proc (clock ticks of 10 ms). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export async function dbOverheadBench(): Promise<void> {
  requireRoot('the overhead benchmark');
  const redis = await RedisProcess.start();
  const postgres = await PostgresProcess.start();
  const samples = new Map<string, number[]>();
  const add = (key: string, value: number): void => { samples.set(key, [...(samples.get(key) ?? []), value]); };
  try {
    const pgbench = requireCommand('pgbench', 'postgresql-contrib');
    const init = await run(pgbench, ['-h', '127.0.0.1', '-p', String(postgres.port), '-U', 'postgres', '-i', '-s', '2', '-q', 'postgres'], { timeoutMs: 120_000 });
    if (init.code !== 0) throw new Error(`pgbench -i failed: ${init.stderr.trim()}`);
    const servers = [['redis', () => redisRate(redis.port), 'redis_events'], ['pgsql', () => pgbenchRate(postgres.port), 'pgsql_events']] as const;
    for (let round = 0; round < ROUNDS; round++) {
      for (const [server, measure, table] of servers) {
        for (const mode of MODES) {
          // A fresh agent per sample: no backlog of the other server's rows.
          const agent = mode === 'agent' ? await AgentProcess.start() : undefined;
          try {
            const cpuBefore = agent ? cpuSeconds(agent.pid) : 0;
            const started = performance.now();
            add(`${server} ${mode}`, await measure());
            if (agent) {
              // The agent's own CPU while the load ran: what its user space costs the host.
              add(`${server} agent cpu`, (cpuSeconds(agent.pid) - cpuBefore) / ((performance.now() - started) / 1000));
              await new Promise((resolve) => setTimeout(resolve, 1000)); // let the last drains land
              const metrics = await agent.metrics();
              const read = (pattern: string): number => Number(new RegExp(`^${pattern} (\\d+)`, 'm').exec(metrics)?.[1] ?? NaN);
              add(`${server} rows`, read(`wisp_table_rows_added_total\\{table="${table}"\\}`));
              const dropped = read('wisp_kernel_ringbufFull_total');
              add(`${server} drops`, dropped / Math.max(1, dropped + read('wisp_kernel_recordsDrained_total')));
              // Drops while never throttled mean the agent (nice 10) was not scheduled, not over its CPU limit.
              add(`${server} throttled`, read('wisp_agent_cpu_throttled_ms_total'));
            }
          } finally {
            await agent?.stop();
          }
        }
      }
    }
  } finally {
    await redis.stop();
    await postgres.stop();
  }
  const median = (key: string): number => {
    const values = [...(samples.get(key) ?? [])].sort((a, b) => a - b);
    return values[Math.floor(values.length / 2)] ?? NaN;
  };
  const rows: (string | number)[][] = [['server', 'no agent', 'agent', 'loss', 'target ≤ 5 %', 'rows stored', 'kernel drops', 'agent mCPU', 'throttled ms']];
  for (const [server, unit] of [['redis', 'req/s'], ['pgsql', 'tps']] as const) {
    const bare = median(`${server} none`);
    const traced = median(`${server} agent`);
    const loss = 1 - traced / bare;
    rows.push([`${server} (${unit})`, bare, traced, `${(loss * 100).toFixed(1)} %`, loss <= 0.05 ? 'met' : 'not met', median(`${server} rows`), `${(median(`${server} drops`) * 100).toFixed(1)} %`, Math.round(median(`${server} agent cpu`) * 1000), median(`${server} throttled`)]);
  }
  printTable(`traced small-request servers, agent on vs off, median of ${ROUNDS} interleaved rounds of ${SECONDS} s`, rows);
}
