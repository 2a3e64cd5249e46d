// HTTP/2 parse + store throughput on recorded real traffic: Node's http2
// server under a Node http2 load generator (several connections, concurrent
// streams on each, both processes traced) is recorded with eBPF; then the
// raw ring-buffer drains are replayed on one core through decode → track →
// frame parse + HPACK → http_events (Arrow), best of 5.
// Baseline in the same run: nginx under wrk (HTTP/1 keep-alive GETs),
// recorded and replayed the same way.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createDecodeCounters, decodeRecords } from '../src/agent/bpf/records.ts';
import { SocketTracer } from '../src/agent/bpf/socket-tracer.ts';
import { EpochClock } from '../src/agent/clock.ts';
import { ConnectionTracker } from '../src/agent/conn/connection-tracker.ts';
import { HttpEventsWriter } from '../src/agent/store/http-events.writer.ts';
import { TableStore } from '../src/agent/store/table-store.ts';
import { httpEvents } from '../src/tables/http-events.ts';
import { NginxProcess } from '../test/support/nginx.ts';
import { requireRoot, ROOT, run, stop } from '../test/support/processes.ts';
import { printTable, wrk } from './support.ts';

const TARGET_RECORDS_PER_SEC = 100_000;
const ROUNDS = 5;
const RECORD_SECONDS = 3;

/** Runs `workload` while the tracer records; returns the raw drains. */
async function record(workload: () => Promise<void>): Promise<Uint8Array[]> {
  const tracer = SocketTracer.open({ selfPid: process.pid, maxCaptureBytes: 32 * 1024 });
  const chunks: Uint8Array[] = [];
  const timer = setInterval(() => {
    for (let raw = tracer.drainRaw(); raw.byteLength; raw = tracer.drainRaw()) chunks.push(raw.slice());
  }, 10);
  try {
    await workload();
  } finally {
    clearInterval(timer);
    for (let raw = tracer.drainRaw(); raw.byteLength; raw = tracer.drainRaw()) chunks.push(raw.slice());
    const counters = tracer.counters();
    tracer.close();
    if (counters['ringbufFull']) process.stdout.write(`  (recording lost ${counters['ringbufFull']} records to a full ring buffer)\n`);
  }
  return chunks;
}

async function recordHttp2(): Promise<Uint8Array[]> {
  const server = spawn(process.execPath, [join(ROOT, 'test', 'fixtures', 'h2-server.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = Number(await new Promise<string>((resolve) => server.stdout!.once('data', (d: Buffer) => resolve(d.toString()))));
    return await record(async () => {
      const load = await run(process.execPath, [join(ROOT, 'test', 'fixtures', 'h2-load.mjs'), String(port), String(RECORD_SECONDS), '8', '16']);
      if (load.code !== 0) throw new Error(`h2-load failed: ${load.stderr.trim()}`);
      process.stdout.write(`  h2-load: ${load.stdout.trim()} requests in ${RECORD_SECONDS} s\n`);
    });
  } finally {
    await stop(server);
  }
}

async function recordHttp1(): Promise<Uint8Array[]> {
  const nginx = await NginxProcess.start({ 'small.html': `${'x'.repeat(59)}\n` }, { sendfile: false });
  try {
    return await record(async () => { await wrk(`http://127.0.0.1:${nginx.port}/small.html`, { connections: 8, seconds: 2 }); });
  } finally {
    await nginx.stop();
  }
}

/** One replay through the agent's pipeline; `records` counts exchanges of major version `major`. */
function replay(chunks: readonly Uint8Array[], major: number): { seconds: number; records: number; stats: Record<string, number> } {
  const store = new TableStore({ totalBudgetBytes: 512 * 1024 * 1024 });
  store.register(httpEvents);
  const writer = new HttpEventsWriter(store, new EpochClock(), 1);
  let records = 0;
  const tracker = new ConnectionTracker({
    sinks: { onHttp: (exchange, conn) => { if (exchange.majorVersion === major) records++; writer.write(exchange, conn); } },
  });
  const counters = createDecodeCounters();
  const start = performance.now();
  for (const chunk of chunks) decodeRecords(chunk, chunk.byteLength, tracker, counters);
  tracker.closeAll(Number.MAX_SAFE_INTEGER);
  store.scan(httpEvents.name, 0n, 1n << 62n); // seal the open batch: part of the cost
  return { seconds: (performance.now() - start) / 1000, records, stats: tracker.stats() };
}

function best(chunks: readonly Uint8Array[], major: number): { seconds: number; records: number; stats: Record<string, number> } {
  replay(chunks, major); // warm up the JIT
  let result = { seconds: Infinity, records: 0, stats: {} as Record<string, number> };
  for (let i = 0; i < ROUNDS; i++) {
    const r = replay(chunks, major);
    if (r.seconds < result.seconds) result = r;
  }
  return result;
}

export async function http2ProtocolBench(): Promise<void> {
  requireRoot('the HTTP/2 benchmark (it records real traffic with eBPF)');
  const h2 = await recordHttp2();
  const h1 = await recordHttp1();
  const mib = (chunks: readonly Uint8Array[]): string => (chunks.reduce((n, c) => n + c.byteLength, 0) / 2 ** 20).toFixed(1);
  process.stdout.write(`  recorded HTTP/2 ${mib(h2)} MiB, HTTP/1 ${mib(h1)} MiB of records\n`);
  const r2 = best(h2, 2);
  const r1 = best(h1, 1);
  const lost = Object.entries(r2.stats).filter(([k, v]) => v > 0 && /^(parse_error|gap_lost|stream_overflow|unmatched)/.test(k) && k.includes('http2'));
  if (lost.length > 0) process.stdout.write(`  HTTP/2 drops: ${lost.map(([k, v]) => `${k}=${v}`).join(' ')}\n`);
  const perSec2 = r2.records / r2.seconds;
  const perSec1 = r1.records / r1.seconds;
  printTable('protocols-http2: decode → track → HTTP/2 frames + HPACK → http_events on recorded traffic (one core, best of 5)', [
    ['workload', 'records', 'seconds', 'records/s', 'ratio'],
    ['HTTP/1 nginx/wrk (baseline)', r1.records, r1.seconds, perSec1, 1],
    ['HTTP/2 node http2', r2.records, r2.seconds, perSec2, perSec2 / perSec1],
    ['target records/s', TARGET_RECORDS_PER_SEC, '', TARGET_RECORDS_PER_SEC, perSec2 / TARGET_RECORDS_PER_SEC],
  ]);
  process.stdout.write(`  HTTP/2 records/s vs target: ${(perSec2 / TARGET_RECORDS_PER_SEC).toFixed(2)}×, vs HTTP/1 pipeline: ${(perSec2 / perSec1).toFixed(2)}×\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) await http2ProtocolBench();
