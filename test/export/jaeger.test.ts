// Captured HTTP traffic leaves as OTLP spans: a real agent (eBPF) with
// ExportPipelines from --config, real nginx and curl, two real Jaeger v2
// receivers — one fed over OTLP/gRPC, one over OTLP/HTTP protobuf — read
// back through Jaeger's query API.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'mocha';
import { AgentProcess } from '../support/agent.ts';
import { NginxProcess } from '../support/nginx.ts';
import { requireCommand, run, tempDir, waitFor } from '../support/processes.ts';
import { JaegerProcess, parseMetrics, sumMetric, type JaegerSpan } from './support/peers.ts';

process.env.WISP_FROM_SOURCE ??= '1';

const SERVER = 2;
const show = (spans: readonly JaegerSpan[]): string => JSON.stringify(spans, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
const CLIENT = 3;

describe('ExportPipeline http-spans to Jaeger (root, eBPF, real nginx, curl and Jaeger)', function () {
  this.timeout(600_000);
  let grpcJaeger: JaegerProcess;
  let httpJaeger: JaegerProcess;
  let nginx: NginxProcess;
  let agent: AgentProcess;

  before(async () => {
    [grpcJaeger, httpJaeger] = await Promise.all([JaegerProcess.start(), JaegerProcess.start()]);
    nginx = await NginxProcess.start({ 'hello.txt': 'hello\n', 'counted.txt': 'counted\n' });
    const config = join(tempDir('export-config'), 'pipelines.yaml');
    writeFileSync(config, `
apiVersion: wisp.dev/v1alpha1
kind: ExportPipeline
metadata: {name: spans-grpc}
spec:
  source: {preset: http-spans}
  interval: 1s
  destination:
    otlp: {endpoint: "${grpcJaeger.otlpGrpc}", protocol: grpc, insecure: true}
  batch: {maxItems: 512, timeout: 200ms}
---
apiVersion: wisp.dev/v1alpha1
kind: ExportPipeline
metadata: {name: spans-http}
spec:
  source: {preset: http-spans}
  interval: 1s
  destination:
    otlp: {endpoint: "${httpJaeger.otlpHttp}", protocol: http/protobuf, insecure: true, compression: none}
  batch: {maxItems: 512, timeout: 200ms}
`);
    agent = await AgentProcess.start(['--config', config]);
  });
  after(async () => {
    await agent?.stop();
    await nginx?.stop();
    await grpcJaeger?.stop();
    await httpJaeger?.stop();
  });

  const traceId = randomBytes(16).toString('hex');
  const callerSpanId = randomBytes(8).toString('hex');
  const counted = 25;

  before(async () => {
    const curl = requireCommand('curl', 'curl');
    const base = `http://127.0.0.1:${nginx.port}`;
    // --rate keeps each curl alive for a while after its first request, so the agent sees the process
    // before it exits and names the client spans' service after it (/proc/PID/comm).
    const traced = await run(curl, ['-sS', '--rate', '2/s', '-o', '/dev/null', '-H', `traceparent: 00-${traceId}-${callerSpanId}-01`, `${base}/hello.txt?lang=en`,
      '--next', '-sS', '-o', '/dev/null', `${base}/no-content`]);
    assert.equal(traced.code, 0, traced.stderr);
    // One curl, many requests over one connection: counted exactly once each, on each side.
    const args = ['-sS', '--rate', '20/s'];
    for (let i = 0; i < counted; i++) args.push('-o', '/dev/null', `${base}/counted.txt`);
    assert.equal((await run(curl, args)).code, 0);
  });

  for (const [protocol, jaeger] of [['grpc', () => grpcJaeger], ['http/protobuf', () => httpJaeger]] as const) {
    describe(`over OTLP ${protocol}`, () => {
      it('links the server span to the caller named in traceparent, with semantic-convention attributes', async () => {
        const spans = await waitFor(`trace ${traceId} with two spans in Jaeger`, async () => {
          const found = await jaeger().trace(traceId);
          return found.length >= 2 ? found : undefined;
        }, 60_000);
        assert.equal(spans.length, 2, show(spans));
        const server = spans.find((s) => s.kind === SERVER)!;
        const client = spans.find((s) => s.kind === CLIENT)!;
        assert.ok(server && client, `kinds: ${spans.map((s) => s.kind)}`);
        assert.equal(client.spanId, callerSpanId, 'the client row is the span traceparent names');
        assert.equal(server.parentSpanId, callerSpanId, 'the server span is its child');
        assert.equal(server.service, 'nginx');
        assert.equal(client.service, 'curl');
        for (const span of [server, client]) {
          assert.equal(span.name, 'GET /hello.txt');
          assert.equal(span.attributes['http.request.method'], 'GET');
          assert.equal(span.attributes['url.path'], '/hello.txt');
          assert.equal(span.attributes['url.query'], 'lang=en');
          assert.equal(span.attributes['http.response.status_code'], 200);
          assert.equal(span.attributes['server.address'], '127.0.0.1');
          assert.equal(span.attributes['server.port'], nginx.port);
          assert.equal(span.attributes['network.peer.address'], '127.0.0.1');
          assert.equal(span.attributes['network.protocol.version'], '1.1');
          const durationNs = span.endNs - span.startNs;
          assert.ok(durationNs > 0n && durationNs < 5_000_000_000n, `duration ${durationNs} ns`);
        }
        assert.equal(server.attributes['client.address'], '127.0.0.1');
        assert.equal(client.attributes['network.peer.port'], nginx.port);
        // The client saw the exchange from its first request byte to the last response byte: it encloses the server's.
        assert.ok(client.startNs <= server.startNs && client.endNs >= server.endNs, 'client span encloses server span');
      });

      it('exports each request exactly once per side', async () => {
        const count = async (service: string): Promise<JaegerSpan[]> => (await jaeger().spans(service)).filter((s) => s.name === 'GET /counted.txt');
        await waitFor(`${counted} server and client spans`, async () => {
          const [server, client] = [await count('nginx'), await count('curl')];
          return server.length >= counted && client.length >= counted ? true : undefined;
        }, 60_000).catch(async (error: Error) => {
          throw new Error(`${error.message}; services ${JSON.stringify(await jaeger().services())}, nginx ${(await count('nginx')).length}, curl ${(await count('curl')).length}`);
        });
        // Three more intervals: nothing is sent twice.
        await new Promise((r) => setTimeout(r, 3500));
        const server = await count('nginx');
        const client = await count('curl');
        assert.equal(server.length, counted);
        assert.equal(client.length, counted);
        assert.ok(server.every((s) => s.kind === SERVER) && client.every((s) => s.kind === CLIENT));
        assert.equal(new Set(server.map((s) => s.spanId)).size, counted, 'distinct span ids');
      });
    });
  }

  describe('self-metrics', () => it('accounts every row on /metrics: read = exported, nothing dropped or queued', async () => {
    await waitFor('queues to drain', async () => {
      const m = parseMetrics(await agent.metrics());
      return sumMetric(m, 'wisp_export_queue_items') === 0 && sumMetric(m, 'wisp_export_rows_read_total', 'spans-http') >= 2 + 2 * counted ? true : undefined;
    });
    // This test's own /metrics requests are captured too (client side), so new rows keep arriving:
    // every snapshot must balance as read = exported + queued (in flight counts as queued), none dropped.
    for (const pipeline of ['default/spans-grpc', 'default/spans-http']) {
      const label = `pipeline="${pipeline}"`;
      const metrics = await waitFor(`${pipeline} to balance`, async () => {
        const m = parseMetrics(await agent.metrics());
        const read = sumMetric(m, 'wisp_export_rows_read_total', label);
        return read === sumMetric(m, 'wisp_export_items_exported_total', label) + sumMetric(m, 'wisp_export_queue_items', label) ? m : undefined;
      });
      const read = sumMetric(metrics, 'wisp_export_rows_read_total', label);
      assert.ok(read >= 2 + 2 * counted, `${pipeline} read ${read}`);
      assert.equal(sumMetric(metrics, 'wisp_export_items_dropped_total', label), 0, pipeline);
      assert.ok(sumMetric(metrics, 'wisp_export_requests_total', label, 'result="ok"') > 0);
    }
  }));
});
