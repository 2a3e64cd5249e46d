// The API server restarts under a running operator and agent: both recover on
// their own (watches re-established, caches re-listed), without being
// restarted, and keep converging on changes made after the restart.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'mocha';
import { freePort, waitFor } from '../support/processes.ts';
import { ensureTestbed, kubectl, kubectlOk, restartComponent } from '../support/testbed.ts';
import { agentLease, agentTables, condition, getJson, readyObject, WispProcess, type CustomObject } from './support/cluster.ts';

const NS = 'wisp-e2e-resilience';
const COLLECTOR = 'e2e-resilience';
const NODE = 'e2e-resilience-node';
const RETENTION = 'e2e-resilience';
const NODE_LABEL = 'wisp.dev/e2e-resilience';
const MI = 2 ** 20;
const RECOVERY_MS = 30_000;

async function planVersion(): Promise<string | undefined> {
  return (await getJson<CustomObject>(['collector', COLLECTOR]))?.status?.planVersion;
}

function apply(object: unknown): Promise<string> {
  return kubectlOk(['apply', '--server-side', '--field-manager', 'e2e-resilience', '-f', '-'], { input: JSON.stringify(object) });
}

describe('an API server restart while the operator and an agent run (test bed)', function () {
  this.timeout(120_000);
  let operator: WispProcess | undefined;
  let agent: WispProcess | undefined;
  let agentServer: string;
  let versionBeforeRestart: string;
  let operatorPid: number;
  let agentPid: number;
  let restartedAt: number;

  before(async function () {
    this.timeout(0); // a cold machine builds the test bed first
    const { kubeconfig } = await ensureTestbed();
    await kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--timeout=90s']);
    await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    await apply({ apiVersion: 'v1', kind: 'Node', metadata: { name: NODE, labels: { [NODE_LABEL]: 'yes' } } });
    await apply({
      apiVersion: 'wisp.dev/v1alpha1', kind: 'Collector', metadata: { name: COLLECTOR },
      spec: { namespace: NS, memoryLimit: '512Mi', nodeSelector: { [NODE_LABEL]: 'yes' } },
    });
    operator = new WispProcess(['operator', '--kubeconfig', kubeconfig, '--health-listen', `127.0.0.1:${await freePort()}`]);
    const port = await freePort();
    agentServer = `http://127.0.0.1:${port}`;
    agent = new WispProcess(['agent', '--node-name', NODE, '--kubeconfig', kubeconfig, '-n', NS, '--no-capture', '--listen', `127.0.0.1:${port}`]);
    await waitFor('Collector AgentsReady=True before the restart', async () => {
      operator!.assertRunning();
      agent!.assertRunning();
      return (await condition(['collector', COLLECTOR], 'AgentsReady'))?.status === 'True' || undefined;
    }, 60_000);
    versionBeforeRestart = (await planVersion())!;
    operatorPid = operator.pid;
    agentPid = agent.pid;
  });

  after(async function () {
    this.timeout(120_000);
    await kubectl(['delete', 'collector', COLLECTOR, '--ignore-not-found', '--timeout=60s']); // its finalizer needs the operator
    await kubectl(['delete', 'dataretention', RETENTION, '--ignore-not-found']);
    await agent?.stop();
    await operator?.stop();
    await kubectl(['delete', 'node', NODE, '--ignore-not-found']);
    await kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=false']);
  });

  it('restarts kube-apiserver', async () => {
    await restartComponent('kube-apiserver');
    restartedAt = Date.now();
  });

  it('lets the agent keep renewing its Lease afterwards', async () => {
    const renewed = await waitFor('a Lease renewal after the restart', async () => {
      const lease = await agentLease(NS, NODE);
      return lease && Date.parse(lease.renewTime) > restartedAt ? lease : undefined;
    }, RECOVERY_MS);
    assert.equal(renewed.health.ready, true);
  });

  it('reconciles a DataRetention created after the restart into status and a new plan, without an operator restart', async () => {
    await apply({
      apiVersion: 'wisp.dev/v1alpha1', kind: 'DataRetention', metadata: { name: RETENTION },
      spec: { tables: [{ name: 'http_events', maxBytes: '48Mi', maxAge: '10m' }] },
    });
    await waitFor('DataRetention Ready=True', () => readyObject(['dataretention', RETENTION]), RECOVERY_MS);
    const version = await waitFor('a new Collector plan version', async () => {
      const current = await planVersion();
      return current && current !== versionBeforeRestart ? current : undefined;
    }, RECOVERY_MS);
    const plan = await getJson<{ metadata: { annotations: Record<string, string> } }>(['configmap', '-n', NS, 'wisp-agent-plan']);
    assert.equal(plan?.metadata.annotations['wisp.dev/plan-version'], version);
  });

  it('lets the agent pick up that plan, without an agent restart', async () => {
    const version = await planVersion();
    await waitFor('the agent to report the new plan', async () => ((await agentLease(NS, NODE))?.planVersion === version) || undefined, RECOVERY_MS);
    assert.equal((await agentTables(agentServer)).find((t) => t.name === 'http_events')?.maxBytes, 48 * MI);
    await waitFor('AgentsReady=True for the new plan', async () => (await condition(['collector', COLLECTOR], 'AgentsReady'))?.status === 'True' || undefined, RECOVERY_MS);
  });

  it('kept the same operator and agent processes throughout', () => {
    operator!.assertRunning();
    agent!.assertRunning();
    assert.equal(operator!.pid, operatorPid);
    assert.equal(agent!.pid, agentPid);
  });
});
