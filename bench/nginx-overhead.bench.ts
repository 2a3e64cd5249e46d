// Overhead on a traced nginx, three ways in the same run: no tracing; the
// bare probes (programs attached, every event filtered out in the kernel: the
// floor of the mechanism); the full agent. Two loads: a fixed ~10 000 req/s
// (agent CPU and p99 latency) and saturation under wrk (throughput loss).
// Modes are interleaved over rounds so machine noise hits them alike.
// The `tls-overhead` case runs the same over HTTPS (nginx and wrk both use
// libssl.so.3, so both sides' SSL calls hit the agent's uprobes); it has no
// bare mode (the bare probes attach no uprobes).
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { AgentProcess } from '../test/support/agent.ts';
import { NginxProcess } from '../test/support/nginx.ts';
import { requireRoot, ROOT, stop } from '../test/support/processes.ts';
import { cpuSeconds, printTable, wrk, type WrkResult } from './support.ts';

const ROUNDS = 2;
// 'agent' runs with its default CPU limit (DEFAULTS.cpuLimitMillicores); 'agent 250m' with --cpu-limit 250m.
const SECONDS = 8;
type Mode = 'none' | 'bare' | 'agent' | 'agent 250m';
const ALL_MODES: readonly Mode[] = ['none', 'bare', 'agent', 'agent 250m'];
const TLS_MODES: readonly Mode[] = ['none', 'agent', 'agent 250m'];

interface Sample { fixed: WrkResult; saturated: WrkResult; agentMillicores: number; dropShare: number }

interface Running { pid?: number; stop: () => Promise<void>; dropped?: () => Promise<number> }

/** Share of data records the kernel dropped because the agent was behind (its CPU limit). */
async function kernelDrops(agent: AgentProcess): Promise<number> {
  const metrics = await agent.metrics();
  const read = (name: string): number => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(metrics)?.[1] ?? 0);
  const dropped = read('wisp_kernel_ringbufFull_total');
  return dropped / Math.max(1, dropped + read('wisp_kernel_recordsDrained_total'));
}

async function startMode(mode: Mode): Promise<Running> {
  if (mode === 'none') return { stop: async () => {} };
  if (mode === 'bare') {
    const child: ChildProcess = spawn(process.execPath, [join(ROOT, 'bench', 'bare-probes.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`bare probes exited ${code}`)));
    });
    return { pid: child.pid!, stop: () => stop(child) };
  }
  const agent = await AgentProcess.start(mode === 'agent 250m' ? ['--cpu-limit', '250m'] : []);
  return { pid: agent.pid, stop: () => agent.stop(), dropped: () => kernelDrops(agent) };
}

export async function nginxOverheadBench(options: { tls?: boolean } = {}): Promise<void> {
  requireRoot('the overhead benchmark');
  const tls = options.tls === true;
  const MODES = tls ? TLS_MODES : ALL_MODES;
  const nginx = await NginxProcess.start({ 'small.html': `${'x'.repeat(59)}\n` }, { tls });
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${nginx.port}/small.html`;
  const samples = new Map<Mode, Sample[]>(MODES.map((m) => [m, []]));
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of MODES) {
        const running = await startMode(mode);
        try {
          const cpuBefore = running.pid ? cpuSeconds(running.pid) : 0;
          const started = performance.now();
          // 50 connections pausing 3 ms between requests ≈ 10 000 req/s here (measured below).
          const fixed = await wrk(url, { connections: 50, seconds: SECONDS, delayMs: 3 });
          const elapsed = (performance.now() - started) / 1000;
          const agentMillicores = running.pid ? ((cpuSeconds(running.pid) - cpuBefore) / elapsed) * 1000 : 0;
          const saturated = await wrk(url, { connections: 32, seconds: SECONDS });
          const dropShare = running.dropped ? await running.dropped() : 0;
          samples.get(mode)!.push({ fixed, saturated, agentMillicores, dropShare });
        } finally {
          await running.stop();
        }
      }
    }
  } finally {
    await nginx.stop();
  }
  const median = (values: number[]): number => { const s = [...values].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };
  const pick = (mode: Mode, f: (s: Sample) => number): number => median(samples.get(mode)!.map(f));
  const base = { rps: pick('none', (s) => s.saturated.requestsPerSec), p99: pick('none', (s) => s.fixed.p99Ms) };
  const loss = (mode: Mode): number => 1 - pick(mode, (s) => s.saturated.requestsPerSec) / base.rps;
  printTable(`nginx${tls ? ' HTTPS' : ''} overhead (median of ${ROUNDS} rounds, ${SECONDS}s each)`, [
    ['mode', 'fixed req/s', 'fixed p99 ms', 'p99 ratio', 'agent mCPU', 'saturated req/s', 'throughput loss', 'kernel drops'],
    ...MODES.map((mode) => [
      mode,
      pick(mode, (s) => s.fixed.requestsPerSec),
      pick(mode, (s) => s.fixed.p99Ms),
      pick(mode, (s) => s.fixed.p99Ms) / base.p99,
      pick(mode, (s) => s.agentMillicores),
      pick(mode, (s) => s.saturated.requestsPerSec),
      `${(loss(mode) * 100).toFixed(1)}%`,
      `${(pick(mode, (s) => s.dropShare) * 100).toFixed(1)}%`,
    ]),
  ]);
  if (tls) {
    process.stdout.write(`  agent throughput loss over HTTPS: ${(loss('agent') * 100).toFixed(1)}% `
      + `(agent ${pick('agent', (s) => s.agentMillicores).toFixed(0)} mCPU at the fixed rate; p99 ratio ${(pick('agent', (s) => s.fixed.p99Ms) / base.p99).toFixed(2)})\n`);
    return;
  }
  const bareLoss = loss('bare');
  process.stdout.write(`  targets: agent ≤ 250 mCPU at the fixed rate (measured ${pick('agent', (s) => s.agentMillicores).toFixed(0)}); `
    + `p99 increase ≤ 10% (measured ${((pick('agent', (s) => s.fixed.p99Ms) / base.p99 - 1) * 100).toFixed(1)}%); `
    + `agent loss ≤ 1.5× bare loss (measured ${(loss('agent') / Math.max(bareLoss, 1e-9)).toFixed(2)}×)\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) await nginxOverheadBench({ tls: process.argv[2] === '--tls' });
