// End to end, the way a user installs Wisp: `kubectl apply -k config/default`,
// then the samples. The operator runs as a host process (the test bed has no
// kubelet) authenticated as its own ServiceAccount from config/rbac, and an
// agent plays a registered Node as the agents' ServiceAccount the operator
// created: the generated RBAC must be enough for both.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'mocha';
import { freePort, ROOT, waitFor } from '../support/processes.ts';
import { ensureTestbed, kubectl, kubectlOk } from '../support/testbed.ts';
import {
  agentLease, agentTables, condition, getJson, readyObject, serviceAccountKubeconfig, WispProcess, type CustomObject,
} from './support/cluster.ts';

const SYSTEM_NS = 'wisp-system'; // config/default's namespace, and the sample Collector's spec.namespace
const SAMPLES_NS = 'wisp-e2e-samples'; // where the namespaced samples (Tracepoint, ExportPipeline, Secret) go
const NODE = 'e2e-node-1';
const COLLECTOR = 'default'; // config/samples/collector.yaml
const RETENTION = 'http'; // config/samples/data-retention.yaml
const MI = 2 ** 20;

/** Every CR of config/samples, as `kubectl get` arguments. */
const SAMPLE_CRS: ReadonlyArray<readonly string[]> = [
  ['collector', COLLECTOR],
  ['dataretention', RETENTION],
  ['tracepoint', '-n', SAMPLES_NS, 'cart-totals'],
  ['exportpipeline', '-n', SAMPLES_NS, 'http-spans'],
];

/** What the operator creates for the sample Collector. */
const AGENT_OBJECTS: ReadonlyArray<readonly string[]> = [
  ['daemonset', '-n', SYSTEM_NS, 'wisp-agent'],
  ['serviceaccount', '-n', SYSTEM_NS, 'wisp-agent'],
  ['service', '-n', SYSTEM_NS, 'wisp-agent'],
  ['configmap', '-n', SYSTEM_NS, 'wisp-agent-plan'],
  ['clusterrole', `wisp-agent-${COLLECTOR}`],
  ['clusterrolebinding', `wisp-agent-${COLLECTOR}`],
];

async function collector(): Promise<CustomObject> {
  const object = await getJson<CustomObject>(['collector', COLLECTOR]);
  if (!object) throw new Error(`Collector ${COLLECTOR} does not exist`);
  return object;
}

/** Waits until a namespace that an earlier run left terminating is gone. */
async function namespaceNotTerminating(name: string): Promise<void> {
  await waitFor(`namespace ${name} to finish terminating`, async () => {
    const namespace = await getJson<{ status: { phase: string } }>(['namespace', name]);
    return namespace?.status.phase !== 'Terminating' || undefined;
  }, 90_000);
}

describe('deploying Wisp with kubectl apply -k config/default and the samples (test bed)', function () {
  this.timeout(120_000);
  let operator: WispProcess | undefined;
  let agent: WispProcess | undefined;
  let agentServer: string;

  before(async function () {
    this.timeout(0); // a cold machine builds the test bed first
    await ensureTestbed();
    await namespaceNotTerminating(SYSTEM_NS);
    await namespaceNotTerminating(SAMPLES_NS);
    await kubectlOk(['apply', '--server-side', '-k', join(ROOT, 'config', 'default')]);
    await kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
    // No kubelet registers Nodes here; the agent process below plays this one.
    await kubectlOk(['apply', '--server-side', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: NODE } }) });
    await kubectlOk(['apply', '--server-side', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: SAMPLES_NS } }) });
  });

  after(async function () {
    this.timeout(180_000);
    // The Collector's finalizer needs the operator: delete it before stopping the operator.
    await kubectl(['delete', 'collector', COLLECTOR, '--ignore-not-found', '--timeout=60s']);
    await kubectl(['delete', 'dataretention', RETENTION, '--ignore-not-found']);
    await agent?.stop();
    await operator?.stop();
    await kubectl(['delete', 'node', NODE, '--ignore-not-found']);
    await kubectl(['delete', 'namespace', SAMPLES_NS, '--ignore-not-found', '--wait=false']);
    // config/default without its CRDs (other tests use them).
    await kubectl(['delete', 'clusterrolebinding,clusterrole', 'wisp-operator', '--ignore-not-found']);
    await kubectl(['delete', 'namespace', SYSTEM_NS, '--ignore-not-found', '--timeout=90s']);
  });

  describe('the operator, as its own ServiceAccount from config/rbac', () => {
    it('wins the leader Lease in wisp-system and syncs its caches', async () => {
      const kubeconfig = await serviceAccountKubeconfig(SYSTEM_NS, 'wisp-operator');
      const health = `127.0.0.1:${await freePort()}`;
      operator = new WispProcess(['operator', '--kubeconfig', kubeconfig, '--leader-elect', '--lease-namespace', SYSTEM_NS, '--health-listen', health]);
      const ready = await waitFor('operator /readyz as leader', async () => {
        operator!.assertRunning();
        const body = await (await fetch(`http://${health}/readyz`)).json() as { state: string; synced: boolean };
        return body.state === 'leading' && body.synced ? body : undefined;
      }, 60_000);
      assert.deepEqual(ready, { ...ready, state: 'leading', synced: true });
      const lease = await getJson<{ spec: { holderIdentity: string } }>(['lease', '-n', SYSTEM_NS, 'wisp-operator']);
      assert.match(lease?.spec.holderIdentity ?? '', new RegExp(`_${operator.pid}$`));
    });
  });

  describe('then kubectl apply -k config/samples', () => {
    before(async () => {
      await kubectlOk(['apply', '--server-side', '-n', SAMPLES_NS, '-k', join(ROOT, 'config', 'samples')]);
    });

    it('brings every sample custom resource to Ready=True for its current generation', async () => {
      for (const args of SAMPLE_CRS) {
        await waitFor(`${args.join(' ')} Ready=True`, () => readyObject(args), 60_000);
      }
    });

    it('creates the agent DaemonSet with only the BPF and PERFMON capabilities, as the agent ServiceAccount', async () => {
      const ds = await getJson<{ spec: { template: { spec: {
        serviceAccountName: string; hostPID?: boolean;
        containers: Array<{ image: string; securityContext: { privileged?: boolean; allowPrivilegeEscalation?: boolean; capabilities: { add?: string[]; drop?: string[] } } }>;
      } } } }>(['daemonset', '-n', SYSTEM_NS, 'wisp-agent']);
      assert.ok(ds, 'the DaemonSet wisp-agent exists');
      const pod = ds.spec.template.spec;
      assert.equal(pod.serviceAccountName, 'wisp-agent');
      assert.equal(pod.containers.length, 1);
      const container = pod.containers[0]!;
      assert.equal(container.image, 'wisp:0.1.0');
      assert.deepEqual(container.securityContext.capabilities, { drop: ['ALL'], add: ['BPF', 'PERFMON'] });
      assert.equal(container.securityContext.privileged, false);
      assert.equal(container.securityContext.allowPrivilegeEscalation, false);
    });

    it('creates the agent ServiceAccount, ClusterRole/Binding, headless Service and plan ConfigMap', async () => {
      for (const args of AGENT_OBJECTS) assert.ok(await getJson(args), `${args.join(' ')} exists`);
      const binding = await getJson<{ roleRef: { kind: string; name: string }; subjects: Array<{ kind: string; name: string; namespace: string }> }>(['clusterrolebinding', `wisp-agent-${COLLECTOR}`]);
      assert.deepEqual(binding?.roleRef, { ...binding?.roleRef, kind: 'ClusterRole', name: `wisp-agent-${COLLECTOR}` });
      assert.deepEqual(binding?.subjects, [{ kind: 'ServiceAccount', name: 'wisp-agent', namespace: SYSTEM_NS }]);
      const role = await getJson<{ rules: Array<{ resources: string[]; verbs: string[] }> }>(['clusterrole', `wisp-agent-${COLLECTOR}`]);
      // Creating a TokenReview or SubjectAccessReview stores nothing: it asks the API server a question.
      const writes = role!.rules.filter((r) => r.verbs.some((v) => ['create', 'update', 'patch', 'delete'].includes(v))).flatMap((r) => r.resources)
        .filter((resource) => resource !== 'tokenreviews' && resource !== 'subjectaccessreviews');
      assert.deepEqual(writes, ['leases'], 'the agents write nothing but their Leases');
      const service = await getJson<{ spec: { clusterIP: string } }>(['service', '-n', SYSTEM_NS, 'wisp-agent']);
      assert.equal(service?.spec.clusterIP, 'None');
      const plan = await getJson<{ metadata: { annotations: Record<string, string> }; data: Record<string, string> }>(['configmap', '-n', SYSTEM_NS, 'wisp-agent-plan']);
      const { planVersion } = (await collector()).status!;
      assert.match(planVersion ?? '', /^[0-9a-f]{16}$/);
      assert.equal(plan?.metadata.annotations['wisp.dev/plan-version'], planVersion);
      const compiled = JSON.parse(plan!.data['plan.json']!) as { version: string; tables: Array<{ name: string; maxBytes: number }> };
      assert.equal(compiled.version, planVersion);
      assert.equal(compiled.tables.find((t) => t.name === 'http_events')?.maxBytes, 256 * MI);
    });

    it('counts the registered Node as desired and none ready before an agent reports', async () => {
      const status = await waitFor('nodesDesired 1', async () => {
        const current = (await collector()).status;
        return current?.nodesDesired === 1 ? current : undefined;
      }, 30_000);
      assert.equal(status.nodesReady, 0);
      assert.equal((await condition(['collector', COLLECTOR], 'AgentsReady'))?.status, 'False');
    });
  });

  describe('an agent playing the Node, as the agents\' ServiceAccount', () => {
    before(async () => {
      const kubeconfig = await serviceAccountKubeconfig(SYSTEM_NS, 'wisp-agent');
      const port = await freePort();
      agentServer = `http://127.0.0.1:${port}`;
      agent = new WispProcess(['agent', '--node-name', NODE, '--kubeconfig', kubeconfig, '-n', SYSTEM_NS, '--no-capture', '--listen', `127.0.0.1:${port}`]);
    });

    it('reports on its Lease the plan version of Collector.status.planVersion', async () => {
      const { planVersion } = (await collector()).status!;
      const lease = await waitFor('the agent Lease with the current plan', async () => {
        agent!.assertRunning();
        const current = await agentLease(SYSTEM_NS, NODE);
        return current?.planVersion === planVersion ? current : undefined;
      }, 30_000);
      assert.deepEqual([lease.health.ready, lease.health.reason], [true, 'PlanApplied']);
      assert.equal((await agentTables(agentServer)).find((t) => t.name === 'http_events')?.maxBytes, 256 * MI);
    });

    it('turns the Collector\'s AgentsReady True with nodesReady 1', async () => {
      const agents = await waitFor('AgentsReady=True', async () => {
        const c = await condition(['collector', COLLECTOR], 'AgentsReady');
        return c?.status === 'True' ? c : undefined;
      }, 30_000);
      assert.equal(agents.reason, 'AllAgentsReady');
      const status = (await collector()).status!;
      assert.deepEqual([status.nodesReady, status.nodesDesired], [1, 1]);
    });

    it('applies a DataRetention change: a new plan version, and the new maxBytes in its tables', async () => {
      const before = (await collector()).status!.planVersion;
      await kubectlOk(['patch', 'dataretention', RETENTION, '--type', 'json', '-p',
        JSON.stringify([{ op: 'replace', path: '/spec/tables/0/maxBytes', value: '128Mi' }])]);
      const after = await waitFor('a new plan version', async () => {
        const version = (await collector()).status?.planVersion;
        return version && version !== before ? version : undefined;
      }, 30_000);
      await waitFor('the agent to apply the new plan', async () => ((await agentLease(SYSTEM_NS, NODE))?.planVersion === after) || undefined, 30_000);
      assert.equal((await agentTables(agentServer)).find((t) => t.name === 'http_events')?.maxBytes, 128 * MI);
      await waitFor('DataRetention Ready for its new generation', () => readyObject(['dataretention', RETENTION]), 30_000);
    });

    it('was never refused a request by the API server (nor was the operator)', () => {
      assert.deepEqual(agent!.forbiddenLines(), []);
      assert.deepEqual(operator!.forbiddenLines(), []);
    });
  });

  describe('deleting the Collector', () => {
    before(async () => {
      agent!.assertRunning();
      await agent!.stop(); // as its DaemonSet pod would be
    });

    it('removes everything the operator created for it', async () => {
      await kubectlOk(['delete', 'collector', COLLECTOR, '--wait=true', '--timeout=60s']);
      for (const args of AGENT_OBJECTS) {
        await waitFor(`${args.join(' ')} gone`, async () => (await getJson(args)) === undefined || undefined, 60_000);
      }
    });

    it('logged no forbidden request in the operator through the whole run', () => {
      operator!.assertRunning();
      assert.deepEqual(operator!.forbiddenLines(), []);
    });
  });
});
