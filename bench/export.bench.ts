// Export throughput of one agent's ExportPipeline (http-spans over OTLP
// http/protobuf) to a minimal local OTLP sink in a child process (so the
// receiver's CPU is not the agent's). Target: 50,000 spans/s per core.
// Baseline, measured in the same run: encoding the same rows into OTLP
// protobuf without sending them (the floor of the export path).
// Then a soak: rows written at a fixed rate while the pipeline exports, with
// the agent's RSS and queue sampled (WISP_BENCH_EXPORT_SECONDS, default 15;
// 300 for the 5-minute run).
// Run: node bench/export.bench.ts
import { spawn } from 'node:child_process';
import { pino } from 'pino';
import { ExportManager } from '../src/agent/export/export.manager.ts';
import { encodeHttpSpans, SpanSink } from '../src/agent/export/span.encoder.ts';
import { ProcessResources } from '../src/agent/export/export.manager.ts';
import { TableStore } from '../src/agent/store/table-store.ts';
import type { PlanExport } from '../src/common/agent-plan.ts';
import { httpEvents } from '../src/tables/index.ts';
import { printTable, rssBytes } from './support.ts';

const TARGET_SPANS_PER_CORE = 50_000;
const PREFILL_ROWS = 400_000;
const SOAK_RATE = 20_000;
const QUEUE_BYTES = 32 * 2 ** 20;

const C = Object.fromEntries(httpEvents.columns.map((c, i) => [c.name, i])) as Record<string, number>;
const METHODS = ['GET', 'GET', 'GET', 'POST'];

function writeRows(store: TableStore, count: number, seq: { n: number }): void {
  for (let i = 0; i < count; i++, seq.n++) {
    const w = store.writer(httpEvents.name);
    const now = BigInt(Date.now()) * 1_000_000n + BigInt(seq.n % 1_000_000);
    w.setInt64Parts(C.time_!, Number(now >> 32n), Number(now & 0xffffffffn));
    w.setString(C.upid!, `00000001-0000-${(1000 + (seq.n % 8)).toString(16).padStart(4, '0')}-0000-000000000001`);
    w.setString(C.remote_addr!, '10.0.0.2'); w.setInt(C.remote_port!, 40_000 + (seq.n % 1000));
    w.setString(C.local_addr!, '10.0.0.1'); w.setInt(C.local_port!, 8080);
    w.setInt(C.trace_role!, 2); w.setBool(C.encrypted!, false);
    w.setInt(C.major_version!, 1); w.setInt(C.minor_version!, 1); w.setInt(C.content_type!, 0);
    w.setString(C.req_headers!, seq.n % 10 === 0 ? '{"Host":"svc","traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}' : '{"Host":"svc","Accept":"*/*"}');
    w.setString(C.req_method!, METHODS[seq.n % METHODS.length]!); w.setString(C.req_path!, `/api/v1/items/${seq.n % 500}?page=2`);
    w.setString(C.req_body!, ''); w.setInt(C.req_body_size!, 0); w.setString(C.resp_headers!, '{}');
    w.setInt(C.resp_status!, seq.n % 50 === 0 ? 500 : 200); w.setString(C.resp_message!, 'OK'); w.setString(C.resp_body!, '{}');
    w.setInt(C.resp_body_size!, 2); w.setInt(C.latency!, 1_000_000 + (seq.n % 9_000_000));
    store.commit(httpEvents.name);
  }
}

/** A minimal OTLP/HTTP sink: reads each request, answers 200 with an empty ExportTraceServiceResponse. */
async function startSink(): Promise<{ url: string; stop: () => void }> {
  const child = spawn(process.execPath, ['-e', `
    const server = require('node:http').createServer((req, res) => {
      req.on('data', () => {});
      req.on('end', () => { res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': 0 }); res.end(); });
    });
    server.keepAliveTimeout = 60000;
    server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'));
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim())));
  return { url: `http://127.0.0.1:${port}`, stop: () => child.kill() };
}

function plan(url: string, compression: 'gzip' | 'none'): PlanExport {
  return {
    key: `bench/export-${compression}`, source: { preset: 'http-spans' }, intervalMs: 100,
    destination: { otlp: { endpoint: url, protocol: 'http/protobuf', insecure: true, compression } },
    batch: { maxItems: 4096, timeoutMs: 50 }, queue: { maxItems: 65_536, maxBytes: QUEUE_BYTES }, retry: {}, overflow: 'block',
  };
}

const cpuSeconds = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
const log = pino({ level: 'warn' });

/** Spans per CPU second and per wall second of exporting `rows` pre-written rows. */
async function throughput(url: string, compression: 'gzip' | 'none'): Promise<{ cpuRate: number; wallRate: number }> {
  const store = new TableStore({ totalBudgetBytes: 512 * 2 ** 20 });
  store.register(httpEvents);
  writeRows(store, PREFILL_ROWS, { n: 0 });
  store.scan(httpEvents.name, 0n, 1n); // seal the open batch
  const manager = new ExportManager({ source: store, log, nowNs: () => BigInt(Date.now()) * 1_000_000n });
  const cpu0 = cpuSeconds();
  const wall0 = performance.now();
  manager.applyExports([plan(url, compression)]);
  while ((manager.statuses()[0]?.itemsExported ?? 0) < PREFILL_ROWS) await new Promise((r) => setTimeout(r, 5));
  const cpu = cpuSeconds() - cpu0;
  const wall = (performance.now() - wall0) / 1000;
  await manager.stop();
  return { cpuRate: PREFILL_ROWS / cpu, wallRate: PREFILL_ROWS / wall };
}

function encodeOnly(): number {
  const store = new TableStore({ totalBudgetBytes: 512 * 2 ** 20 });
  store.register(httpEvents);
  writeRows(store, PREFILL_ROWS, { n: 0 });
  const batches = store.scan(httpEvents.name, 0n, (1n << 63n) - 1n);
  const resources = new ProcessResources();
  const cpu0 = cpuSeconds();
  let spans = 0;
  for (const batch of batches) {
    const sink = new SpanSink(4096);
    spans += encodeHttpSpans(batch, { from: 0, to: batch.numRows }, resources, sink);
    sink.finish();
  }
  return spans / (cpuSeconds() - cpu0);
}

export async function exportBench(): Promise<void> {
  const sink = await startSink();
  try {
    encodeOnly(); // warm-up
    const encode = encodeOnly();
    const none = await throughput(sink.url, 'none');
    const gzip = await throughput(sink.url, 'gzip');
    printTable(`export: ${PREFILL_ROWS.toLocaleString('en-US')} http_events rows → OTLP http/protobuf sink (block, batches of 4096)`, [
      ['path', 'spans/s per core', 'spans/s wall', 'vs target 50k/core', 'vs encode-only'],
      ['encode only (baseline)', encode, '-', `${(encode / TARGET_SPANS_PER_CORE).toFixed(2)}x`, '1.00x'],
      ['export, no compression', none.cpuRate, none.wallRate, `${(none.cpuRate / TARGET_SPANS_PER_CORE).toFixed(2)}x`, `${(none.cpuRate / encode).toFixed(2)}x`],
      ['export, gzip', gzip.cpuRate, gzip.wallRate, `${(gzip.cpuRate / TARGET_SPANS_PER_CORE).toFixed(2)}x`, `${(gzip.cpuRate / encode).toFixed(2)}x`],
    ]);
    await soak(sink.url);
  } finally {
    sink.stop();
  }
}

/** Rows at SOAK_RATE/s while exporting: the agent's RSS and queue stay bounded and the export keeps up. */
async function soak(url: string): Promise<void> {
  const seconds = Number(process.env.WISP_BENCH_EXPORT_SECONDS ?? 15);
  const store = new TableStore({ totalBudgetBytes: 128 * 2 ** 20 });
  store.register(httpEvents);
  const manager = new ExportManager({ source: store, log, nowNs: () => BigInt(Date.now()) * 1_000_000n });
  manager.applyExports([plan(url, 'gzip')]);
  const seq = { n: 0 };
  const start = performance.now();
  const rss0 = rssBytes(process.pid);
  let rssMax = rss0;
  let queueMax = 0;
  const samples: number[] = [];
  while (performance.now() - start < seconds * 1000) {
    const due = Math.floor(((performance.now() - start) / 1000) * SOAK_RATE) - seq.n;
    if (due > 0) writeRows(store, due, seq);
    const status = manager.statuses()[0]!;
    queueMax = Math.max(queueMax, status.queuedBytes);
    rssMax = Math.max(rssMax, rssBytes(process.pid));
    samples.push(rssBytes(process.pid));
    store.tick(BigInt(Date.now()) * 1_000_000n);
    await new Promise((r) => setTimeout(r, 10));
  }
  await manager.stop();
  const status = manager.statuses()[0]!;
  const dropped = Object.values(status.dropped).reduce((a, b) => a + b, 0);
  const lastThird = samples.slice(Math.floor((samples.length * 2) / 3));
  printTable(`export soak: ${SOAK_RATE.toLocaleString('en-US')} rows/s for ${seconds} s (WISP_BENCH_EXPORT_SECONDS), gzip, queue bound ${QUEUE_BYTES / 2 ** 20} MiB`, [
    ['rows written', 'rows read', 'exported', 'dropped', 'queue max MiB', 'RSS start MiB', 'RSS max MiB', 'RSS last third avg MiB'],
    [seq.n, status.rowsRead, status.itemsExported, dropped, queueMax / 2 ** 20, rss0 / 2 ** 20, rssMax / 2 ** 20,
      lastThird.reduce((a, b) => a + b, 0) / Math.max(1, lastThird.length) / 2 ** 20],
  ]);
}

if (import.meta.url === `file://${process.argv[1]}`) await exportBench();
