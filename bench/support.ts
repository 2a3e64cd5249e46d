// Shared pieces of the benchmarks: wrk runs, process CPU, RSS, and the
// ratio table every benchmark prints.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireCommand, run, tempDir } from '../test/support/processes.ts';

export interface WrkResult { requestsPerSec: number; p50Ms: number; p99Ms: number; errors: number }

const CLOCK_TICKS_PER_SEC = 100;

/** Runs wrk against `url`; with `delayMs`, each connection pauses that long between requests (a fixed rate). */
export async function wrk(url: string, options: { connections: number; seconds: number; delayMs?: number; threads?: number; script?: string }): Promise<WrkResult> {
  const binary = requireCommand('wrk', 'wrk');
  const args = ['-t', String(options.threads ?? 1), '-c', String(options.connections), '-d', `${options.seconds}s`, '--latency'];
  let script = options.script;
  if (options.delayMs !== undefined) {
    script = join(tempDir('wrk'), 'fixed-rate.lua');
    writeFileSync(script, `function delay() return ${options.delayMs} end\n`);
  }
  if (script) args.push('-s', script);
  const result = await run(binary, [...args, url], { timeoutMs: (options.seconds + 30) * 1000 });
  if (result.code !== 0) throw new Error(`wrk failed: ${result.stderr.trim()}`);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(result.stdout);
  if (!rps) throw new Error(`read wrk output: no Requests/sec in ${result.stdout}`);
  const errors = /Non-2xx or 3xx responses:\s+(\d+)/.exec(result.stdout);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(result.stdout);
  return {
    requestsPerSec: Number(rps[1]),
    p50Ms: percentile(result.stdout, '50%'),
    p99Ms: percentile(result.stdout, '99%'),
    errors: Number(errors?.[1] ?? 0) + (socketErrors ? socketErrors.slice(1).reduce((n, v) => n + Number(v), 0) : 0),
  };
}

function percentile(output: string, label: string): number {
  const match = new RegExp(`^\\s+${label}\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(output);
  if (!match) return NaN;
  const value = Number(match[1]);
  return match[2] === 'us' ? value / 1000 : match[2] === 's' ? value * 1000 : value;
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SEC;
}

/** Resident set size of a process, in bytes. */
export function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

export function printTable(title: string, rows: readonly (readonly (string | number)[])[]): void {
  const text = rows.map((r) => r.map((v) => (typeof v === 'number' ? formatNumber(v) : v)));
  const widths = text[0]!.map((_, i) => Math.max(...text.map((r) => r[i]!.length)));
  process.stdout.write(`\n${title}\n`);
  for (const r of text) process.stdout.write(`  ${r.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ')}\n`);
}

function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  return value.toFixed(Math.abs(value) >= 10 ? 1 : 3);
}
