// Export pipelines that cannot work — an endpoint nobody listens on, TLS
// against a plaintext receiver, a receiver that refuses the request, a
// script over a table that does not exist — each report a clear reason
// (on /metrics here; in a cluster in ExportPipeline.status), count what
// they drop, and leave the agent capturing.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'mocha';
import { AgentProcess } from '../support/agent.ts';
import { NginxProcess } from '../support/nginx.ts';
import { freePort, requireCommand, run, tempDir, waitFor } from '../support/processes.ts';
import { JaegerProcess, parseMetrics, sumMetric } from './support/peers.ts';

process.env.WISP_FROM_SOURCE ??= '1';

describe('ExportPipeline with bad destinations and sources (root, eBPF, real nginx, curl and Jaeger)', function () {
  this.timeout(300_000);
  let jaeger: JaegerProcess;
  let nginx: NginxProcess;
  let agent: AgentProcess;

  const pipeline = (name: string, source: string, otlp: string): string => `---
apiVersion: wisp.dev/v1alpha1
kind: ExportPipeline
metadata: {name: ${name}}
spec:
  source: ${source}
  interval: 1s
  destination:
    otlp: ${otlp}
  batch: {timeout: 100ms}
  retry: {initialInterval: 100ms, maxInterval: 500ms, maxElapsedTime: 2s}
`;

  before(async () => {
    jaeger = await JaegerProcess.start();
    nginx = await NginxProcess.start({ 'bad.txt': 'still captured\n' });
    const nobody = await freePort();
    const config = join(tempDir('export-config'), 'pipelines.yaml');
    writeFileSync(config, [
      pipeline('unreachable', '{preset: http-spans}', `{endpoint: "127.0.0.1:${nobody}", protocol: grpc, insecure: true, timeout: 1s}`),
      pipeline('tls-mismatch', '{preset: http-spans}', `{endpoint: "https://127.0.0.1:${jaeger.httpPort}", protocol: http/protobuf, timeout: 2s}`),
      pipeline('refused', '{preset: http-spans}', `{endpoint: "http://127.0.0.1:${jaeger.httpPort}/not-otlp", protocol: http/protobuf, insecure: true}`),
      pipeline('bad-script', '{script: "import px\\ndf = px.DataFrame(table=\'no_such_table\')\\npx.display(df)"}', `{endpoint: "${jaeger.otlpGrpc}", protocol: grpc, insecure: true}`),
    ].join('\n'));
    agent = await AgentProcess.start(['--config', config]);
    const curl = requireCommand('curl', 'curl');
    const args = ['-sS'];
    for (let i = 0; i < 10; i++) args.push('-o', '/dev/null', `http://127.0.0.1:${nginx.port}/bad.txt`);
    assert.equal((await run(curl, args)).code, 0);
  });
  after(async () => {
    await agent?.stop();
    await nginx?.stop();
    await jaeger?.stop();
  });

  const errorReason = (metrics: string, name: string): string | undefined =>
    new RegExp(`wisp_export_last_error_timestamp_seconds\\{pipeline="default/${name}",reason="([A-Za-z]+)"\\}`).exec(metrics)?.[1];

  /**
   * /metrics once `name` dropped something, checked for the accounting
   * invariant (the agent sees all host traffic, so rows keep coming: the
   * queue need not be empty): read = exported + dropped + queued.
   */
  const settled = async (name: string): Promise<Map<string, number>> => {
    const label = `pipeline="default/${name}"`;
    const m = await waitFor(`${name} to drop a batch`, async () => {
      const metrics = parseMetrics(await agent.metrics());
      return sumMetric(metrics, 'wisp_export_items_dropped_total', label) > 0 ? metrics : undefined;
    }, 60_000);
    const read = sumMetric(m, 'wisp_export_rows_read_total', label);
    const accounted = sumMetric(m, 'wisp_export_items_exported_total', label) + sumMetric(m, 'wisp_export_items_dropped_total', label) + sumMetric(m, 'wisp_export_queue_items', label);
    assert.equal(accounted, read, `${name}: exported + dropped + queued = read`);
    return m;
  };

  it('reports Unreachable for an endpoint nobody listens on, retries, then drops as retryExhausted', async () => {
    const m = await settled('unreachable');
    const label = 'pipeline="default/unreachable"';
    assert.equal(errorReason(await agent.metrics(), 'unreachable'), 'Unreachable');
    assert.ok(sumMetric(m, 'wisp_export_items_retried_total', label) > 0);
    assert.equal(sumMetric(m, 'wisp_export_items_dropped_total', label, 'reason="retryExhausted"'), sumMetric(m, 'wisp_export_items_dropped_total', label));
    assert.equal(sumMetric(m, 'wisp_export_items_exported_total', label), 0);
  });

  it('reports TLSError when TLS meets a plaintext receiver', async () => {
    await settled('tls-mismatch');
    assert.equal(errorReason(await agent.metrics(), 'tls-mismatch'), 'TLSError');
  });

  it('reports Rejected for a 4xx answer and drops without retrying', async () => {
    const m = await settled('refused');
    const label = 'pipeline="default/refused"';
    assert.equal(errorReason(await agent.metrics(), 'refused'), 'Rejected');
    assert.equal(sumMetric(m, 'wisp_export_items_retried_total', label), 0);
    assert.equal(sumMetric(m, 'wisp_export_items_dropped_total', label, 'reason="rejected"'), sumMetric(m, 'wisp_export_items_dropped_total', label));
    assert.equal(sumMetric(m, 'wisp_export_items_exported_total', label), 0);
  });

  it('reports InvalidSource for a script over a table that does not exist, and reads nothing', async () => {
    const metrics = await agent.metrics();
    assert.equal(errorReason(metrics, 'bad-script'), 'InvalidSource');
    assert.equal(sumMetric(parseMetrics(metrics), 'wisp_export_rows_read_total', 'pipeline="default/bad-script"'), 0);
  });

  it('keeps capturing', async () => {
    const rows = await agent.query(`import px
df = px.DataFrame(table='http_events', start_time='-5m')
df = df[(df.trace_role == 2) & (df.local_port == ${nginx.port}) & (df.req_path == '/bad.txt')]
px.display(df[['req_path']], 'rows')
`);
    assert.equal(rows.length, 10);
  });
});
