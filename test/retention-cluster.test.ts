// DataRetention in a cluster, against the real test bed: a DataRetention
// custom resource → the operator (in process) compiles it into the agent
// plan → an agent process playing a node applies its rollup live (the table
// appears, is queryable, and goes away with the rollup), without a restart.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'mocha';
import { pino } from 'pino';
import { Operator } from '../src/operator/operator.ts';
import { freePort, requireBuilt, ROOT, run, stop, waitFor, WISP } from './support/processes.ts';
import { ensureTestbed, kubectl, kubectlOk } from './support/testbed.ts';

const NS = 'wisp-retention-test';
const COLLECTOR = 'retention-test';
const NODE = 'retention-test-node';
const RETENTION = 'retention-test';
/** A name no other test budgets, so DataRetentions of parallel tests cannot conflict with this one. */
const ROLLUP = 'http_events_rt_1m';

function apply(yaml: string): Promise<string> {
  return kubectlOk(['apply', '--server-side', '--field-manager', 'retention-test', '-f', '-'], { input: yaml });
}

interface TableView { name: string; maxAgeNs: string; columns: { name: string }[] }

describe('DataRetention applied by a cluster agent (real kube-apiserver, operator, agent)', function () {
  this.timeout(120_000);
  let operator: Operator | undefined;
  let agent: ChildProcess | undefined;
  let server: string;
  let stderr = '';
  let kubeconfig: string;

  const agentTables = async (): Promise<TableView[]> => ((await (await fetch(`${server}/api/v1/tables`)).json()) as { tables: TableView[] }).tables;

  before(async function () {
    this.timeout(0); // a cold machine builds the test bed first
    requireBuilt();
    ({ kubeconfig } = await ensureTestbed());
    await kubectlOk(['apply', '--server-side', '-f', join(ROOT, 'crds')]);
    await kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
    await kubectl(['create', 'namespace', NS]);
    await apply(`apiVersion: v1
kind: Node
metadata: {name: ${NODE}, labels: {wisp.dev/retention-test: "yes"}}
---
apiVersion: wisp.dev/v1alpha1
kind: Collector
metadata: {name: ${COLLECTOR}}
spec: {namespace: ${NS}, memoryLimit: 256Mi, nodeSelector: {wisp.dev/retention-test: "yes"}}
`);
    operator = new Operator({ kubeconfig, healthListen: '', logger: pino({ level: 'warn' }, pino.destination(2)) });
    await operator.start();
    const port = await freePort();
    server = `http://127.0.0.1:${port}`;
    agent = spawn(WISP, ['agent', '--node-name', NODE, '--kubeconfig', kubeconfig, '-n', NS, '--no-capture', '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    agent.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
    await waitFor('the agent to serve its tables', async () => {
      if (agent!.exitCode !== null) throw new Error(`agent exited ${agent!.exitCode}: ${stderr}`);
      return (await fetch(`${server}/healthz`).catch(() => undefined))?.ok || undefined;
    }, 30_000);
  });

  after(async () => {
    await stop(agent);
    await kubectl(['delete', 'dataretention', RETENTION, '--ignore-not-found']);
    await kubectl(['delete', 'collector', COLLECTOR, '--ignore-not-found', '--wait=false']);
    await kubectl(['delete', 'node', NODE, '--ignore-not-found']);
    await operator?.stop();
    await kubectl(['delete', 'namespace', NS, '--wait=false', '--ignore-not-found']);
  });

  it('creates the rollup table from a DataRetention, queryable by name, without a restart', async () => {
    await apply(`apiVersion: wisp.dev/v1alpha1
kind: DataRetention
metadata: {name: ${RETENTION}}
spec:
  rollups:
  - name: ${ROLLUP}
    from: http_events
    interval: 1m
    groupBy: [service, req_path, resp_status]
    aggregates: {requests: count, latency: quantiles, errors: errorRate}
    retain: 2h
`);
    const table = await waitFor(`${ROLLUP} on the agent`, async () => (await agentTables()).find((t) => t.name === ROLLUP), 30_000);
    assert.deepEqual(table.columns.map((c) => c.name), ['time_', 'service', 'req_path', 'resp_status', 'errors', 'latency', 'requests']);
    assert.equal(table.maxAgeNs, String(2 * 3600 * 1e9));
    // A cluster agent answers authenticated queries only: the admin's token.
    const result = await run(WISP, ['run', '--server', server, '--kubeconfig', kubeconfig, '-o', 'json', '-'], {
      input: `import px\ndf = px.DataFrame('${ROLLUP}', start_time='-1h')\ndf.p99 = px.pluck_float64(df.latency, 'p99')\npx.display(df[['time_', 'service', 'requests', 'p99']])\n`,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(agent!.pid !== undefined && agent!.exitCode, null, 'the agent kept running');
  });

  it('removes the rollup table when the DataRetention drops it', async () => {
    await apply(`apiVersion: wisp.dev/v1alpha1
kind: DataRetention
metadata: {name: ${RETENTION}}
spec:
  tables:
  - {name: http_events_rt_unused, maxAge: 5m}
`);
    await waitFor(`${ROLLUP} gone from the agent`, async () => ((await agentTables()).some((t) => t.name === ROLLUP) ? undefined : true), 30_000);
    // A budget for a table this agent does not produce is reported on the Lease, not fatal.
    const health = await waitFor('the problem on the agent Lease', async () => {
      const lease = JSON.parse(await kubectlOk(['-n', NS, 'get', 'lease', `wisp-agent-${NODE}`, '-o', 'json'])) as { metadata: { annotations: Record<string, string> } };
      const current = JSON.parse(lease.metadata.annotations['wisp.dev/health'] ?? '{}') as { ready: boolean; reason: string; message: string };
      return current.message?.includes('http_events_rt_unused') ? current : undefined;
    });
    assert.deepEqual([health.ready, health.reason], [true, 'PlanAppliedWithProblems']);
    assert.match(health.message, /table http_events_rt_unused is not produced by this agent/);
  });
});
