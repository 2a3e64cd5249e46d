// Agents in a cluster, against the real test bed: an agent process playing a
// node watches the plan ConfigMap, applies table budgets at once and reports
// on its Lease; it survives the plan being broken and fixed again.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'mocha';
import { freePort, requireBuilt, run, stop, waitFor, WISP } from './support/processes.ts';
import { ensureTestbed, TESTBED, type Testbed } from './support/testbed.ts';

const NAMESPACE = 'wisp-agent-test';

async function kubectl(args: readonly string[], input?: string): Promise<string> {
  const result = await run(TESTBED, ['kubectl', ...args], input === undefined ? {} : { input });
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr.trim()}`);
  return result.stdout;
}

function planConfigMap(version: string, tables: unknown[]): string {
  return JSON.stringify({
    apiVersion: 'v1', kind: 'ConfigMap',
    metadata: { name: 'wisp-agent-plan', namespace: NAMESPACE, annotations: { 'wisp.dev/plan-version': version } },
    data: { 'plan.json': JSON.stringify({ schema: 1, version, tables }) },
  });
}

interface LeaseView { planVersion: string; queryAddress: string; health: { ready: boolean; reason: string; message: string } }

async function lease(node: string): Promise<LeaseView | undefined> {
  const result = await run(TESTBED, ['kubectl', '-n', NAMESPACE, 'get', 'lease', `wisp-agent-${node}`, '-o', 'json']);
  if (result.code !== 0) return undefined;
  const object = JSON.parse(result.stdout) as { metadata: { annotations?: Record<string, string> } };
  const annotations = object.metadata.annotations ?? {};
  return { planVersion: annotations['wisp.dev/plan-version'] ?? '', queryAddress: annotations['wisp.dev/query-address'] ?? '', health: JSON.parse(annotations['wisp.dev/health'] ?? '{}') as LeaseView['health'] };
}

describe('agent in a cluster (real kube-apiserver)', function () {
  this.timeout(0); // the first ensureTestbed() on a cold machine builds Kubernetes
  let testbed: Testbed;
  let agent: ChildProcess | undefined;
  let server: string;

  before(async () => {
    requireBuilt();
    testbed = await ensureTestbed();
    await run(TESTBED, ['kubectl', 'delete', 'namespace', NAMESPACE, '--wait=true', '--ignore-not-found']);
    await kubectl(['create', 'namespace', NAMESPACE]);
    const port = await freePort();
    server = `http://127.0.0.1:${port}`;
    agent = spawn(WISP, ['agent', '--node-name', 'node-a', '--kubeconfig', testbed.kubeconfig, '-n', NAMESPACE,
      '--no-capture', '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    agent.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
    await waitFor('the agent Lease', async () => {
      if (agent!.exitCode !== null) throw new Error(`agent exited ${agent!.exitCode}: ${stderr}`);
      return lease('node-a');
    }, 30_000);
  });

  after(async () => {
    await stop(agent);
    await run(TESTBED, ['kubectl', 'delete', 'namespace', NAMESPACE, '--wait=false', '--ignore-not-found']);
  });

  it('reports that it waits for a plan before there is one', async () => {
    const view = await lease('node-a');
    assert.equal(view?.health.ready, false);
    assert.equal(view?.health.reason, 'WaitingForPlan');
  });

  it('advertises where its query API listens, for the cluster query endpoint', async () => {
    assert.equal(`http://${(await lease('node-a'))?.queryAddress}`, server);
  });

  it('applies a plan\'s table budgets at once and reports the version on its Lease', async () => {
    const started = Date.now();
    await kubectl(['apply', '-f', '-'], planConfigMap('v1', [{ name: 'http_events', maxBytes: 8 * 2 ** 20, maxAgeMs: 600_000, from: 'DataRetention/test' }]));
    const view = await waitFor('plan v1 on the Lease', async () => {
      const current = await lease('node-a');
      return current?.planVersion === 'v1' ? current : undefined;
    });
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    assert.deepEqual([view.health.ready, view.health.reason], [true, 'PlanApplied']);
    const tables = (await (await fetch(`${server}/api/v1/tables`)).json()) as { tables: { name: string; maxBytes: number }[] };
    assert.equal(tables.tables.find((t) => t.name === 'http_events')?.maxBytes, 8 * 2 ** 20);
  });

  it('reports a broken plan as not ready with the reason, and recovers when it is fixed', async () => {
    await kubectl(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'v1', kind: 'ConfigMap',
      metadata: { name: 'wisp-agent-plan', namespace: NAMESPACE, annotations: { 'wisp.dev/plan-version': 'broken' } },
      data: { 'plan.json': '{"tables": 7}' },
    }));
    const broken = await waitFor('InvalidPlan on the Lease', async () => {
      const current = await lease('node-a');
      return current?.health.reason === 'InvalidPlan' ? current : undefined;
    });
    assert.match(broken.health.message, /"tables" must be a list/);
    await kubectl(['apply', '-f', '-'], planConfigMap('v2', [{ name: 'http_events', maxBytes: 4 * 2 ** 20, from: 'DataRetention/test' }]));
    await waitFor('plan v2 on the Lease', async () => ((await lease('node-a'))?.planVersion === 'v2' ? true : undefined));
  });
});
