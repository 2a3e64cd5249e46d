// Per-protocol parse + store throughput on one core, on recorded real
// traffic: each case runs a real server and load generator for a few seconds
// while the eBPF tracer records the raw ring-buffer drains, then the
// recording is replayed through decode → track/pair → parse → Arrow rows.
// The HTTP/1 case (nginx under wrk) is the baseline of the same run; every
// case prints records/s, its ratio to the 100k records/s target and to
// HTTP/1. Add a protocol by adding a case to CASES.
import { spawn } from 'node:child_process';
import type { SocketEventSink } from '../src/agent/bpf/events.ts';
import { createDecodeCounters, decodeRecords } from '../src/agent/bpf/records.ts';
import { SocketTracer } from '../src/agent/bpf/socket-tracer.ts';
import { EpochClock } from '../src/agent/clock.ts';
import { ConnectionTracker } from '../src/agent/conn/connection-tracker.ts';
import { DnsDatagramPairer } from '../src/agent/protocols/dns/dns-datagrams.ts';
import type { ProtocolSinks } from '../src/agent/protocols/protocol.ts';
import { DnsEventsWriter } from '../src/agent/store/dns-events.writer.ts';
import { HttpEventsWriter } from '../src/agent/store/http-events.writer.ts';
import { RedisEventsWriter } from '../src/agent/store/redis-events.writer.ts';
import { TableStore } from '../src/agent/store/table-store.ts';
import { dnsEvents } from '../src/tables/dns-events.ts';
import { httpEvents } from '../src/tables/http-events.ts';
import { redisEvents } from '../src/tables/redis-events.ts';
import type { TableSpec } from '../src/tables/schema.ts';
import { DnsmasqProcess } from '../test/support/dnsmasq.ts';
import { NginxProcess } from '../test/support/nginx.ts';
import { RedisProcess } from '../test/support/redis.ts';
import { requireCommand, requireRoot, run, stop } from '../test/support/processes.ts';
import { printTable, wrk } from './support.ts';

const TARGET_RECORDS_PER_SEC = 100_000;
const ROUNDS = 3;
const LOAD_SECONDS = 3;

interface ProtocolCase {
  readonly name: string;
  readonly table: TableSpec;
  /** Runs a real server and client load while `recording` is on. */
  load(): Promise<void>;
  /** The agent's writer for this table, as sinks. */
  sinks(store: TableStore, clock: EpochClock): ProtocolSinks;
}

const CASES: readonly ProtocolCase[] = [
  {
    name: 'http1 (baseline)',
    table: httpEvents,
    async load() {
      const nginx = await NginxProcess.start({ 'small.html': `${'x'.repeat(59)}\n` }, { sendfile: false });
      try {
        await wrk(`http://127.0.0.1:${nginx.port}/small.html`, { connections: 8, seconds: LOAD_SECONDS });
      } finally {
        await nginx.stop();
      }
    },
    sinks(store, clock) {
      const writer = new HttpEventsWriter(store, clock, 1);
      return { onHttp: (exchange, conn) => writer.write(exchange, conn) };
    },
  },
  {
    name: 'redis',
    table: redisEvents,
    async load() {
      const benchmark = requireCommand('redis-benchmark', 'redis-tools');
      const redis = await RedisProcess.start();
      try {
        // SET/GET/INCR/LPUSH/LRANGE_100 with 16 commands per write: pipelined, mixed reply types.
        const result = await run(benchmark, ['-p', String(redis.port), '-q', '-c', '4', '-P', '16', '-n', '60000', '-d', '32', '-t', 'set,get,incr,lpush,lrange_100'],
          { timeoutMs: 120_000 });
        if (result.code !== 0) throw new Error(`redis-benchmark failed: ${result.stderr.trim()}`);
      } finally {
        await redis.stop();
      }
    },
    sinks(store, clock) {
      const writer = new RedisEventsWriter(store, clock, 1);
      return { onRedis: (record, conn) => writer.write(record, conn) };
    },
  },
  {
    name: 'dns (udp)',
    table: dnsEvents,
    async load() {
      const dnsmasq = await DnsmasqProcess.start({
        local: 'bench.test',
        hosts: { 'web.bench.test': ['10.0.0.1', 'fd00::1'], 'db.bench.test': ['10.0.0.2'] },
        cnames: { 'www.bench.test': 'web.bench.test' },
      });
      try {
        // A separate process (this one is not traced): 32 queries in flight over one UDP socket.
        const client = spawn(process.execPath, ['-e', DNS_LOAD, String(dnsmasq.port), String(LOAD_SECONDS * 1000)], { stdio: ['ignore', 'inherit', 'inherit'] });
        await new Promise<void>((resolve, reject) => {
          client.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`dns load generator exited ${code}`))));
        });
        await stop(client);
      } finally {
        await dnsmasq.stop();
      }
    },
    sinks(store, clock) {
      const writer = new DnsEventsWriter(store, clock, 1);
      return { onDns: (record, conn) => writer.write(record, conn) };
    },
  },
];

/** UDP DNS load: A/AAAA/CNAME/NXDOMAIN questions, 32 in flight, for argv[2] ms. */
const DNS_LOAD = `
const dgram = require('node:dgram');
const [port, ms] = process.argv.slice(1).map(Number);
const names = [['web.bench.test', 1], ['web.bench.test', 28], ['www.bench.test', 1], ['db.bench.test', 1], ['nope.bench.test', 1]];
const socket = dgram.createSocket('udp4');
const end = Date.now() + ms;
let txid = 0;
function query() {
  const [name, type] = names[txid % names.length];
  const labels = name.split('.').flatMap((l) => [l.length, ...Buffer.from(l)]);
  const id = (txid++) & 0xffff;
  socket.send(Buffer.from([id >> 8, id & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...labels, 0, 0, type, 0, 1]), port, '127.0.0.1');
}
socket.on('message', () => { if (Date.now() < end) query(); else socket.close(); });
socket.bind(0, () => { for (let i = 0; i < 32; i++) query(); });
`;

async function record(load: () => Promise<void>): Promise<Uint8Array[]> {
  const tracer = SocketTracer.open({ selfPid: process.pid });
  const chunks: Uint8Array[] = [];
  const timer = setInterval(() => {
    for (let raw = tracer.drainRaw(); raw.byteLength > 0; raw = tracer.drainRaw()) chunks.push(raw.slice());
  }, 10);
  try {
    await load();
  } finally {
    clearInterval(timer);
    for (let raw = tracer.drainRaw(); raw.byteLength > 0; raw = tracer.drainRaw()) chunks.push(raw.slice());
    const lost = tracer.counters()['ringbufFull'] ?? 0;
    tracer.close();
    if (lost > 0) process.stdout.write(`  (recording lost ${lost} records to a full ring buffer)\n`);
  }
  return chunks;
}

/** Replays a recording through the agent's path for one table; CPU seconds and rows stored. */
function replay(chunks: readonly Uint8Array[], c: ProtocolCase): { seconds: number; rows: number } {
  const store = new TableStore({ totalBudgetBytes: 512 * 1024 * 1024 });
  store.register(c.table);
  const clock = new EpochClock();
  const sinks = c.sinks(store, clock);
  const tracker = new ConnectionTracker({ sinks });
  const dgrams = new DnsDatagramPairer({ sinks, counters: tracker.counters });
  const sink: SocketEventSink = {
    onOpen: (e) => tracker.onOpen(e),
    onData: (e) => tracker.onData(e),
    onClose: (e) => tracker.onClose(e),
    onDgram: (e) => dgrams.onDgram(e),
  };
  const counters = createDecodeCounters();
  const t0 = process.cpuUsage();
  for (const chunk of chunks) decodeRecords(chunk, chunk.byteLength, sink, counters);
  tracker.closeAll(Number.MAX_SAFE_INTEGER);
  store.scan(c.table.name, 0n, 1n << 62n); // seal the open batch: part of the cost
  const used = process.cpuUsage(t0);
  const rows = store.stats().find((t) => t.name === c.table.name)!.rowsAdded;
  return { seconds: (used.user + used.system) / 1e6, rows };
}

export async function protocolsBench(): Promise<void> {
  requireRoot('the protocols benchmark (it records real traffic with eBPF)');
  const results: { name: string; rows: number; seconds: number; perSec: number }[] = [];
  for (const c of CASES) {
    const chunks = await record(() => c.load());
    replay(chunks, c); // warm up the JIT
    let best = { seconds: Infinity, rows: 0 };
    for (let i = 0; i < ROUNDS; i++) {
      const r = replay(chunks, c);
      if (r.seconds < best.seconds) best = r;
    }
    if (best.rows === 0) throw new Error(`${c.name}: the recording produced no ${c.table.name} rows`);
    results.push({ name: c.name, ...best, perSec: best.rows / best.seconds });
  }
  const baseline = results[0]!.perSec;
  printTable(`protocols: decode → track/pair → parse → Arrow on recorded traffic (one core, CPU time, best of ${ROUNDS})`, [
    ['protocol', 'rows', 'cpu seconds', 'rows per second', 'vs target', 'vs http1'],
    ...results.map((r) => [r.name, r.rows, r.seconds, r.perSec, r.perSec / TARGET_RECORDS_PER_SEC, r.perSec / baseline]),
  ]);
}

if (import.meta.url === `file://${process.argv[1]}`) await protocolsBench();
