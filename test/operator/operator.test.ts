// The operator against the real test bed: Collector → agent objects, status,
// plan inputs judged, restart without duplicates, deletion cleans up.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'mocha';
import { pino } from 'pino';
import { Operator } from '../../src/operator/operator.ts';
import { ROOT, waitFor } from '../support/processes.ts';
import { ensureTestbed, kubectl, kubectlOk } from '../support/testbed.ts';

const NS = 'wisp-optest';
const COLLECTOR = 'optest';
const NODE = 'optest-node-1';

async function getJson(args: string[]): Promise<Record<string, unknown> | undefined> {
  const result = await kubectl(['get', ...args, '-o', 'json']);
  return result.code === 0 ? JSON.parse(result.stdout) as Record<string, unknown> : undefined;
}

type Cond = { type: string; status: string; reason: string; message: string; observedGeneration?: number };
async function condition(args: string[], type: string): Promise<Cond | undefined> {
  const object = await getJson(args) as { status?: { conditions?: Cond[] } } | undefined;
  return object?.status?.conditions?.find((c) => c.type === type);
}

function apply(yaml: string): Promise<string> {
  return kubectlOk(['apply', '--server-side', '--field-manager', 'optest', '-f', '-'], { input: yaml });
}

describe('wisp operator (test bed)', function () {
  this.timeout(120_000);
  let kubeconfig: string;
  let operator: Operator | undefined;
  const start = async () => {
    operator = new Operator({ kubeconfig, healthListen: '', logger: pino({ level: 'warn' }, pino.destination(2)) });
    await operator.start();
  };

  before(async function () {
    this.timeout(0); // a cold machine builds the test bed first
    ({ kubeconfig } = await ensureTestbed());
    await kubectlOk(['apply', '--server-side', '-f', join(ROOT, 'crds')]);
    await kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
    await kubectl(['create', 'namespace', NS]);
    // A Node object the Collector selects (no kubelet: its agent is played by the Lease below).
    await apply(`apiVersion: v1
kind: Node
metadata: {name: ${NODE}, labels: {wisp.dev/optest: "yes"}}
`);
    await start();
  });

  after(async () => {
    await kubectl(['delete', 'collector', COLLECTOR, '--ignore-not-found', '--wait=false']);
    await kubectl(['delete', 'dataretention', 'optest-a', 'optest-b', '--ignore-not-found']);
    await kubectl(['delete', 'exportpipeline', '-n', NS, '--all', '--ignore-not-found']);
    await kubectl(['delete', 'node', NODE, '--ignore-not-found']);
    await operator?.stop();
  });

  it('applies every agent object for a Collector and reports Ready=True with observedGeneration', async () => {
    await apply(`apiVersion: wisp.dev/v1alpha1
kind: Collector
metadata: {name: ${COLLECTOR}}
spec: {namespace: ${NS}, memoryLimit: 512Mi, nodeSelector: {wisp.dev/optest: "yes"}}
`);
    const ready = await waitFor('Collector Ready=True', async () => {
      const c = await condition(['collector', COLLECTOR], 'Ready');
      return c?.status === 'True' ? c : undefined;
    }, 60_000);
    const collector = await getJson(['collector', COLLECTOR]) as { metadata: { generation: number; finalizers?: string[] }; status: { planVersion?: string; nodesDesired?: number; nodesReady?: number } };
    assert.equal(ready.observedGeneration, collector.metadata.generation);
    assert.deepEqual(collector.metadata.finalizers, ['wisp.dev/cluster-objects']);
    assert.match(collector.status.planVersion ?? '', /^[0-9a-f]{16}$/);
    for (const args of [['daemonset', '-n', NS, 'wisp-agent'], ['serviceaccount', '-n', NS, 'wisp-agent'], ['service', '-n', NS, 'wisp-agent'],
      ['configmap', '-n', NS, 'wisp-agent-plan'], ['clusterrole', `wisp-agent-${COLLECTOR}`], ['clusterrolebinding', `wisp-agent-${COLLECTOR}`]]) {
      assert.ok(await getJson(args), `${args.join(' ')} exists`);
    }
    const cm = await getJson(['configmap', '-n', NS, 'wisp-agent-plan']) as { metadata: { annotations: Record<string, string> }; data: Record<string, string> };
    assert.equal(cm.metadata.annotations['wisp.dev/plan-version'], collector.status.planVersion);
    assert.equal(JSON.parse(cm.data['plan.json']!).version, collector.status.planVersion);
    // No agents run here yet: AgentsReady says so and why.
    const agents = await condition(['collector', COLLECTOR], 'AgentsReady');
    assert.equal(agents?.status, 'False');
    assert.equal(agents?.reason, 'AgentsNotReady');
    assert.equal(collector.status.nodesDesired, 1);
    assert.equal(collector.status.nodesReady, 0);
  });

  it('counts an agent ready once its Lease reports health and the current plan', async () => {
    const nodes = { items: [{ metadata: { name: NODE } }] };
    const collector = await getJson(['collector', COLLECTOR]) as { status: { planVersion: string } };
    for (const node of nodes.items) {
      const health = JSON.stringify({ ready: true, reason: 'Running', message: '', appliedAt: new Date().toISOString() });
      await apply(`apiVersion: coordination.k8s.io/v1
kind: Lease
metadata:
  name: wisp-agent-${node.metadata.name}
  namespace: ${NS}
  annotations: {wisp.dev/plan-version: "${collector.status.planVersion}", wisp.dev/health: '${health}'}
spec: {holderIdentity: ${node.metadata.name}, leaseDurationSeconds: 60, renewTime: "${new Date().toISOString().replace('Z', '000Z')}"}
`);
    }
    await waitFor('AgentsReady=True', async () => (await condition(['collector', COLLECTOR], 'AgentsReady'))?.status === 'True' || undefined, 30_000);
    const status = (await getJson(['collector', COLLECTOR]) as { status: { nodesDesired: number; nodesReady: number } }).status;
    assert.equal(status.nodesReady, status.nodesDesired);
  });

  it('marks the newer of two DataRetentions for one table Conflict and keeps the older Ready', async () => {
    await apply(`apiVersion: wisp.dev/v1alpha1
kind: DataRetention
metadata: {name: optest-a}
spec: {tables: [{name: http_events, maxBytes: 64Mi}]}
`);
    await waitFor('optest-a Ready', async () => (await condition(['dataretention', 'optest-a'], 'Ready'))?.status === 'True' || undefined, 30_000);
    await apply(`apiVersion: wisp.dev/v1alpha1
kind: DataRetention
metadata: {name: optest-b}
spec: {tables: [{name: http_events, maxBytes: 32Mi}]}
`);
    const conflict = await waitFor('optest-b Conflict', async () => {
      const c = await condition(['dataretention', 'optest-b'], 'Ready');
      return c?.status === 'False' ? c : undefined;
    }, 30_000);
    assert.equal(conflict.reason, 'Conflict');
    assert.match(conflict.message, /optest-a/);
    assert.equal((await condition(['dataretention', 'optest-a'], 'Ready'))?.status, 'True');
    const events = await kubectlOk(['get', 'events.events.k8s.io', '-n', 'default', '--field-selector', 'regarding.name=optest-b', '-o', 'json']);
    assert.match(events, /"reason": "Conflict"/);
  });

  it('says SecretNotFound for an ExportPipeline whose headers Secret is missing', async () => {
    await apply(`apiVersion: wisp.dev/v1alpha1
kind: ExportPipeline
metadata: {name: spans, namespace: ${NS}}
spec:
  source: {preset: http-spans}
  destination: {otlp: {endpoint: "jaeger:4317", protocol: grpc, insecure: true, headersFrom: {secretRef: {name: nope}}}}
`);
    const ready = await waitFor('ExportPipeline Ready=False', async () => {
      const c = await condition(['exportpipeline', '-n', NS, 'spans'], 'Ready');
      return c?.status === 'False' ? c : undefined;
    }, 30_000);
    assert.equal(ready.reason, 'SecretNotFound');
    assert.match(ready.message, /Secret wisp-optest\/nope does not exist/);
  });

  it('converges after a restart without duplicating anything', async () => {
    await operator!.stop();
    await start();
    await operator!.idle();
    await waitFor('Collector still Ready', async () => (await condition(['collector', COLLECTOR], 'Ready'))?.status === 'True' || undefined, 30_000);
    const ds = JSON.parse(await kubectlOk(['get', 'daemonsets', '-A', '-l', `wisp.dev/collector=${COLLECTOR}`, '-o', 'json'])) as { items: unknown[] };
    const crb = JSON.parse(await kubectlOk(['get', 'clusterrolebindings', '-l', `wisp.dev/collector=${COLLECTOR}`, '-o', 'json'])) as { items: unknown[] };
    assert.equal(ds.items.length, 1);
    assert.equal(crb.items.length, 1);
  });

  it('removes everything it created when the Collector is deleted', async () => {
    await kubectlOk(['delete', 'collector', COLLECTOR, '--wait=true', '--timeout=60s']);
    for (const args of [['clusterrole', `wisp-agent-${COLLECTOR}`], ['clusterrolebinding', `wisp-agent-${COLLECTOR}`]]) {
      assert.equal(await getJson(args), undefined, `${args.join(' ')} is gone`);
    }
    // Namespaced dependents go through the garbage collector (owner references).
    for (const args of [['daemonset', '-n', NS, 'wisp-agent'], ['serviceaccount', '-n', NS, 'wisp-agent'], ['service', '-n', NS, 'wisp-agent'], ['configmap', '-n', NS, 'wisp-agent-plan']]) {
      await waitFor(`${args.join(' ')} gone`, async () => (await getJson(args)) === undefined || undefined, 60_000);
    }
  });
});
