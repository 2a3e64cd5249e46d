// RED metrics of captured HTTP traffic reach Prometheus two ways: scraped
// from the agent's /metrics (a prometheus destination) and sent over OTLP
// to a real collector (Jaeger v2's OTLP receiver → Prometheus exporter),
// both scraped by Debian's Prometheus and read through its query API.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'mocha';
import { AgentProcess } from '../support/agent.ts';
import { NginxProcess } from '../support/nginx.ts';
import { requireCommand, run, tempDir, waitFor } from '../support/processes.ts';
import { JaegerProcess, parseMetrics, PrometheusProcess, sumMetric } from './support/peers.ts';

process.env.WISP_FROM_SOURCE ??= '1';

describe('ExportPipeline http-metrics to Prometheus (root, eBPF, real nginx, curl, Jaeger and Prometheus)', function () {
  this.timeout(300_000);
  let jaeger: JaegerProcess;
  let nginx: NginxProcess;
  let agent: AgentProcess;
  let prometheus: PrometheusProcess;
  const requests = 30;

  before(async () => {
    jaeger = await JaegerProcess.start();
    nginx = await NginxProcess.start({ 'red.txt': 'rate errors duration\n' });
    const config = join(tempDir('export-config'), 'pipelines.yaml');
    writeFileSync(config, `
apiVersion: wisp.dev/v1alpha1
kind: ExportPipeline
metadata: {name: red-scrape}
spec:
  source: {preset: http-metrics}
  interval: 1s
  destination: {prometheus: {}}
---
apiVersion: wisp.dev/v1alpha1
kind: ExportPipeline
metadata: {name: red-otlp}
spec:
  source: {preset: http-metrics}
  interval: 1s
  destination:
    otlp: {endpoint: "${jaeger.otlpGrpc}", protocol: grpc, insecure: true}
  batch: {timeout: 100ms}
---
apiVersion: wisp.dev/v1alpha1
kind: ExportPipeline
metadata: {name: proc-scrape}
spec:
  source: {preset: process-metrics}
  interval: 1s
  destination: {prometheus: {}}
---
apiVersion: wisp.dev/v1alpha1
kind: ExportPipeline
metadata: {name: proc-otlp}
spec:
  source: {preset: process-metrics}
  interval: 1s
  destination:
    otlp: {endpoint: "${jaeger.otlpGrpc}", protocol: grpc, insecure: true}
  batch: {timeout: 100ms}
`);
    agent = await AgentProcess.start(['--config', config]);
    prometheus = await PrometheusProcess.start({ agent: agent.server.replace('http://', ''), collector: `127.0.0.1:${jaeger.metricsPort}` });
    const curl = requireCommand('curl', 'curl');
    const args = ['-sS', '--rate', '30/s'];
    for (let i = 0; i < requests; i++) args.push('-o', '/dev/null', `http://127.0.0.1:${nginx.port}/red.txt?i=${i}`);
    assert.equal((await run(curl, args)).code, 0);
  });
  after(async () => {
    await prometheus?.stop();
    await agent?.stop();
    await nginx?.stop();
    await jaeger?.stop();
  });

  const series = (job: string) => `job="${job}",http_route="/red.txt",http_request_method="GET",http_response_status_code="200"`;

  it('serves http.server.request.duration on the agent\'s /metrics with one count per request', async () => {
    const count = await waitFor(`${requests} requests in Prometheus (agent scrape)`, async () => {
      const [sample] = await prometheus.query(`sum(http_server_request_duration_seconds_count{${series('agent')}})`);
      return sample && sample.value >= requests ? sample.value : undefined;
    }, 60_000);
    assert.equal(count, requests);
    const [inf] = await prometheus.query(`sum(http_server_request_duration_seconds_bucket{${series('agent')},le="+Inf"})`);
    assert.equal(inf?.value, requests);
    const [sum] = await prometheus.query(`sum(http_server_request_duration_seconds_sum{${series('agent')}})`);
    assert.ok(sum && sum.value > 0 && sum.value < requests, `latency sum ${sum?.value} s`);
    const [client] = await prometheus.query(`sum(http_client_request_duration_seconds_count{job="agent",server_port="${nginx.port}",http_response_status_code="200"})`);
    assert.equal(client?.value, requests, 'the curl side, as http.client.request.duration');
  });

  it('sends the same histograms over OTLP to a collector', async () => {
    const count = await waitFor(`${requests} requests in Prometheus (via the collector)`, async () => {
      const [sample] = await prometheus.query(`sum(http_server_request_duration_seconds_count{${series('collector')}})`);
      return sample && sample.value >= requests ? sample.value : undefined;
    }, 60_000);
    assert.equal(count, requests);
  });

  it('serves process_stats as OTel process metrics, scraped and over OTLP', async () => {
    for (const job of ['agent', 'collector']) {
      const [count] = await waitFor(`process_memory_usage_bytes from ${job}`, async () => {
        const samples = await prometheus.query(`count(process_memory_usage_bytes{job="${job}"} > 0)`);
        return samples.length > 0 ? samples : undefined;
      }, 90_000);
      assert.ok(count!.value >= 2, `${job}: ${count!.value} processes with resident memory`);
      const [cpu] = await prometheus.query(`count(process_cpu_time_seconds_total{job="${job}",cpu_mode="user"})`);
      assert.ok(cpu && cpu.value >= 2, `${job}: process.cpu.time by cpu.mode`);
    }
  });

  it('accounts the rows: read = exported for both pipelines', async () => {
    const metrics = parseMetrics(await agent.metrics());
    for (const pipeline of ['default/red-scrape', 'default/red-otlp']) {
      const read = sumMetric(metrics, 'wisp_export_rows_read_total', `pipeline="${pipeline}"`);
      assert.ok(read >= 2 * requests, `${pipeline} read ${read}`);
      assert.equal(sumMetric(metrics, 'wisp_export_items_dropped_total', `pipeline="${pipeline}"`), 0);
    }
  });
});
