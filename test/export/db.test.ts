// db-spans and db.client.operation.duration from captured PostgreSQL
// traffic: a real agent (eBPF), Debian's PostgreSQL driven by psql, spans
// read back from a real Jaeger, metrics from the agent's /metrics.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'mocha';
import { AgentProcess } from '../support/agent.ts';
import { PostgresProcess } from '../support/postgres.ts';
import { tempDir, waitFor } from '../support/processes.ts';
import { JaegerProcess, parseMetrics, sumMetric, type JaegerSpan } from './support/peers.ts';

process.env.WISP_FROM_SOURCE ??= '1';

describe('ExportPipeline db-spans and database RED metrics (root, eBPF, real PostgreSQL and Jaeger)', function () {
  this.timeout(300_000);
  let jaeger: JaegerProcess;
  let postgres: PostgresProcess;
  let agent: AgentProcess;
  const queries = 5;

  before(async () => {
    [jaeger, postgres] = await Promise.all([JaegerProcess.start(), PostgresProcess.start()]);
    const config = join(tempDir('export-config'), 'pipelines.yaml');
    writeFileSync(config, `
apiVersion: wisp.dev/v1alpha1
kind: ExportPipeline
metadata: {name: db-spans}
spec:
  source: {preset: db-spans}
  interval: 1s
  destination:
    otlp: {endpoint: "${jaeger.otlpGrpc}", protocol: grpc, insecure: true}
  batch: {timeout: 100ms}
---
apiVersion: wisp.dev/v1alpha1
kind: ExportPipeline
metadata: {name: red}
spec:
  source: {preset: http-metrics}
  interval: 1s
  destination: {prometheus: {}}
`);
    agent = await AgentProcess.start(['--config', config]);
    const commands = Array.from({ length: queries }, (_, i) => `SELECT ${i} AS wisp_export_probe`);
    // pg_sleep keeps psql alive long enough for the agent to name its process.
    const result = await postgres.psql(...commands, 'SELECT pg_sleep(1)');
    assert.equal(result.code, 0, result.stderr);
  });
  after(async () => {
    await agent?.stop();
    await postgres?.stop();
    await jaeger?.stop();
  });

  it('exports one span per query on each traced side with db.system.name, db.query.text and the operation as its name', async () => {
    const spans = await waitFor(`${queries} probe spans in Jaeger`, async () => {
      const found: JaegerSpan[] = [];
      for (const service of await jaeger.services()) {
        found.push(...(await jaeger.spans(service)).filter((s) => String(s.attributes['db.query.text'] ?? '').includes('wisp_export_probe')));
      }
      return found.length >= 2 * queries ? found : undefined;
    }, 60_000);
    // psql's side (CLIENT) and the postgres backend's (SERVER).
    assert.equal(spans.filter((s) => s.kind === 3).length, queries);
    assert.equal(spans.filter((s) => s.kind === 2).length, queries);
    for (const span of spans) {
      assert.equal(span.attributes['db.system.name'], 'postgresql');
      assert.equal(span.attributes['db.operation.name'], 'Query');
      assert.equal(span.name, 'Query');
      assert.equal(span.attributes['server.port'], postgres.port);
      assert.ok(span.endNs > span.startNs, 'latency as duration');
    }
    const texts = Array.from({ length: queries }, (_, i) => `SELECT ${i} AS wisp_export_probe`);
    assert.deepEqual(spans.filter((s) => s.kind === 2).map((s) => s.attributes['db.query.text']).sort(), texts.sort());
  });

  it('adds db.client.operation.duration to http-metrics', async () => {
    const count = await waitFor('db histogram on /metrics', async () => {
      const n = sumMetric(parseMetrics(await agent.metrics()), 'db_client_operation_duration_seconds_count', 'db_system_name="postgresql"', 'db_operation_name="Query"');
      return n >= queries + 1 ? n : undefined;
    }, 60_000);
    // psql's side only (the client): the probes, pg_sleep, and psql's own start-up queries, if any.
    await new Promise((r) => setTimeout(r, 2000));
    const settled = sumMetric(parseMetrics(await agent.metrics()), 'db_client_operation_duration_seconds_count', 'db_system_name="postgresql"', 'db_operation_name="Query"');
    assert.ok(settled >= queries + 1 && settled < 2 * (queries + 1), `${count} → ${settled} Query operations`);
  });
});
