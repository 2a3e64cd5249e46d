// Real export peers, started by the tests: Jaeger v2 (built from its Go
// module by hack/peers, in-memory storage, OTLP gRPC + HTTP in, query API
// out, optionally an OTLP-metrics → Prometheus-exporter pipeline) and
// Debian's Prometheus scraping given targets.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, ROOT, run, stop, tempDir, waitFor } from '../../support/processes.ts';

async function peerBinary(name: 'jaeger' | 'prometheus'): Promise<string> {
  // A cold Jaeger build takes 10+ minutes on 2 cores; hack/peers caches it by version.
  const result = await run(join(ROOT, 'hack', 'peers'), [name], { timeoutMs: 40 * 60_000 });
  if (result.code !== 0) throw new Error(`hack/peers ${name} failed: ${result.stderr.trim()}`);
  return result.stdout.trim();
}

export interface JaegerOptions {
  /** Serve OTLP over TLS with this certificate (PEM files). */
  tls?: { certFile: string; keyFile: string };
  /** Require HTTP basic authentication on OTLP: "user:password". */
  basicAuth?: string;
}

export interface JaegerSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  startNs: bigint;
  endNs: bigint;
  attributes: Record<string, string | number | boolean>;
  service: string;
}

/** One Jaeger v2 process on free loopback ports; stop() and start() again keep the ports (outage tests). */
export class JaegerProcess {
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly queryPort: number;
  /** The collector's Prometheus exporter (OTLP metrics in → scrape out). */
  readonly metricsPort: number;
  private readonly dir: string;
  private readonly binary: string;
  private readonly options: JaegerOptions;
  private child: ChildProcess | undefined;
  private stderr = '';

  private constructor(binary: string, dir: string, ports: number[], options: JaegerOptions) {
    this.binary = binary;
    this.dir = dir;
    this.options = options;
    [this.grpcPort, this.httpPort, this.queryPort, this.metricsPort] = ports as [number, number, number, number];
  }

  static async start(options: JaegerOptions = {}): Promise<JaegerProcess> {
    const binary = await peerBinary('jaeger');
    const ports = [await freePort(), await freePort(), await freePort(), await freePort()];
    const jaeger = new JaegerProcess(binary, tempDir('jaeger'), ports, options);
    await jaeger.start();
    return jaeger;
  }

  get otlpGrpc(): string { return `127.0.0.1:${this.grpcPort}`; }
  get otlpHttp(): string { return `http://127.0.0.1:${this.httpPort}`; }
  get log(): string { return this.stderr; }

  async start(): Promise<void> {
    const config = join(this.dir, 'config.yaml');
    const { tls, basicAuth } = this.options;
    // The OTLP receivers' TLS and authentication, when asked for (both protocols alike).
    const secured = `${tls ? `
        tls:
          cert_file: ${tls.certFile}
          key_file: ${tls.keyFile}` : ''}${basicAuth ? `
        auth:
          authenticator: basicauth/server` : ''}`;
    writeFileSync(config, `
service:
  extensions: [jaeger_storage, jaeger_query${basicAuth ? ', basicauth/server' : ''}]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
    metrics:
      receivers: [otlp]
      exporters: [prometheus]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:${basicAuth ? `
  basicauth/server:
    htpasswd:
      inline: |
        ${basicAuth}` : ''}
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:${this.queryPort}
    grpc:
      endpoint: 127.0.0.1:0
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:${this.grpcPort}${secured}
      http:
        endpoint: 127.0.0.1:${this.httpPort}${secured}
processors:
  batch:
    timeout: 200ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
  prometheus:
    endpoint: 127.0.0.1:${this.metricsPort}
`);
    this.stderr = '';
    const child = spawn(this.binary, ['--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    child.stderr?.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-8000); });
    await waitFor('jaeger to serve its query API', async () => {
      if (child.exitCode !== null) throw new Error(`jaeger exited ${child.exitCode}: ${this.stderr.trim().slice(-2000)}`);
      const res = await fetch(`http://127.0.0.1:${this.queryPort}/api/v3/services`).catch(() => undefined);
      return res?.ok ? true : undefined;
    }, 60_000);
  }

  async stop(): Promise<void> {
    await stop(this.child);
    this.child = undefined;
  }

  async services(): Promise<string[]> {
    const res = await fetch(`http://127.0.0.1:${this.queryPort}/api/v3/services`);
    const body = await res.json() as { services?: string[] };
    return body.services ?? [];
  }

  /** Every span of `service` stored in the last hour (Jaeger's OTLP-JSON query API v3). */
  async spans(service: string): Promise<JaegerSpan[]> {
    const now = Date.now();
    const params = new URLSearchParams({
      'query.service_name': service,
      'query.start_time_min': new Date(now - 3600_000).toISOString(),
      'query.start_time_max': new Date(now + 60_000).toISOString(),
      'query.num_traces': '50000',
    });
    const res = await fetch(`http://127.0.0.1:${this.queryPort}/api/v3/traces?${params}`);
    if (res.status === 404) return [];
    if (!res.ok) throw new Error(`jaeger query: HTTP ${res.status}: ${await res.text()}`);
    const body = await res.json() as { result?: { resourceSpans?: OtlpResourceSpans[] } };
    return flatten(body.result?.resourceSpans ?? []).filter((s) => s.service === service);
  }

  /** All spans of one trace id (32 hex). */
  async trace(traceId: string): Promise<JaegerSpan[]> {
    const res = await fetch(`http://127.0.0.1:${this.queryPort}/api/v3/traces/${traceId}`);
    if (res.status === 404) return [];
    if (!res.ok) throw new Error(`jaeger trace ${traceId}: HTTP ${res.status}: ${await res.text()}`);
    const body = await res.json() as { result?: { resourceSpans?: OtlpResourceSpans[] } };
    return flatten(body.result?.resourceSpans ?? []);
  }
}

interface OtlpAnyValue { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number }
interface OtlpResourceSpans {
  resource?: { attributes?: Array<{ key: string; value: OtlpAnyValue }> };
  scopeSpans?: Array<{ spans?: Array<{
    traceId: string; spanId: string; parentSpanId?: string; name: string; kind?: number | string;
    startTimeUnixNano: string; endTimeUnixNano: string; attributes?: Array<{ key: string; value: OtlpAnyValue }>;
  }> }>;
}

const KINDS: Record<string, number> = { SPAN_KIND_INTERNAL: 1, SPAN_KIND_SERVER: 2, SPAN_KIND_CLIENT: 3 };

/** gRPC-gateway JSON carries ids as hex (Jaeger) or base64; normalize to hex. */
function hexId(id: string | undefined, bytes: number): string {
  if (!id) return '';
  if (new RegExp(`^[0-9a-f]{${bytes * 2}}$`).test(id)) return id;
  return Buffer.from(id, 'base64').toString('hex');
}

function value(v: OtlpAnyValue): string | number | boolean {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.boolValue !== undefined) return v.boolValue;
  return v.doubleValue ?? '';
}

function flatten(resourceSpans: OtlpResourceSpans[]): JaegerSpan[] {
  const out: JaegerSpan[] = [];
  for (const rs of resourceSpans) {
    const service = String(value(rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value ?? {}));
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        out.push({
          traceId: hexId(s.traceId, 16), spanId: hexId(s.spanId, 8), parentSpanId: hexId(s.parentSpanId, 8), name: s.name,
          kind: typeof s.kind === 'number' ? s.kind : KINDS[s.kind ?? ''] ?? 0,
          startNs: BigInt(s.startTimeUnixNano), endNs: BigInt(s.endTimeUnixNano),
          attributes: Object.fromEntries((s.attributes ?? []).map((a) => [a.key, value(a.value)])),
          service,
        });
      }
    }
  }
  return out;
}

/** Debian's Prometheus scraping `targets` (host:port, path /metrics) every second. */
export class PrometheusProcess {
  readonly port: number;
  private readonly child: ChildProcess;

  private constructor(port: number, child: ChildProcess) {
    this.port = port;
    this.child = child;
  }

  static async start(targets: Record<string, string>): Promise<PrometheusProcess> {
    const binary = await peerBinary('prometheus');
    const dir = tempDir('prometheus');
    const port = await freePort();
    const jobs = Object.entries(targets).map(([job, target]) => `
  - job_name: ${job}
    scrape_interval: 1s
    static_configs:
      - targets: ['${target}']`).join('');
    writeFileSync(join(dir, 'prometheus.yml'), `global:\n  scrape_interval: 1s\nscrape_configs:${jobs}\n`);
    const child = spawn(binary, [
      `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
    await waitFor('prometheus to be ready', async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}: ${stderr.trim()}`);
      const res = await fetch(`http://127.0.0.1:${port}/-/ready`).catch(() => undefined);
      return res?.ok ? true : undefined;
    }, 30_000);
    return new PrometheusProcess(port, child);
  }

  /** Instant query; the samples' values as numbers with their labels. */
  async query(promql: string): Promise<Array<{ labels: Record<string, string>; value: number }>> {
    const res = await fetch(`http://127.0.0.1:${this.port}/api/v1/query?${new URLSearchParams({ query: promql })}`);
    const body = await res.json() as { status: string; error?: string; data?: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
    if (body.status !== 'success') throw new Error(`prometheus query ${promql}: ${body.error}`);
    return (body.data?.result ?? []).map((r) => ({ labels: r.metric, value: Number(r.value[1]) }));
  }

  async stop(): Promise<void> {
    await stop(this.child);
  }
}

/** Parses a Prometheus text exposition into `name{labels}` → value. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** Sum of every sample of `name` whose labels include all of `match` (e.g. pipeline="default/x"). */
export function sumMetric(metrics: Map<string, number>, name: string, ...match: string[]): number {
  let total = 0;
  for (const [key, v] of metrics) {
    const brace = key.indexOf('{');
    const family = brace < 0 ? key : key.slice(0, brace);
    if (family === name && match.every((m) => key.includes(m))) total += v;
  }
  return total;
}

/** A CA and a server certificate for 127.0.0.1 signed by it (openssl), as PEM files; caPem for clients. */
export async function testCertificates(): Promise<{ caPem: string; certFile: string; keyFile: string }> {
  const dir = tempDir('certs');
  const openssl = async (args: string[]): Promise<void> => {
    const result = await run('openssl', args);
    if (result.code !== 0) throw new Error(`openssl ${args[0]} failed: ${result.stderr.trim()}`);
  };
  const file = (name: string) => join(dir, name);
  await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('ca.key'), '-out', file('ca.crt'), '-days', '1', '-subj', '/CN=wisp-test-ca']);
  await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=127.0.0.1']);
  writeFileSync(file('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await openssl(['x509', '-req', '-in', file('server.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial',
    '-out', file('server.crt'), '-days', '1', '-extfile', file('san.ext')]);
  return { caPem: readFileSync(file('ca.crt'), 'utf8'), certFile: file('server.crt'), keyFile: file('server.key') };
}
