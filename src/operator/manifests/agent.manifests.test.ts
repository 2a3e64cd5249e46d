// Golden-file tests of the agent manifests. UPDATE_GOLDEN=1 rewrites testdata/.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dump } from 'js-yaml';
import { describe, it } from 'mocha';
import { compileInputs, planForCollector } from '../plan/plan.compiler.ts';
import type { Collector } from '../resources.ts';
import {
  agentClusterRole, agentClusterRoleBinding, agentDaemonSet, agentObjects, agentPlanConfigMap,
  agentService, agentServiceAccount,
} from './agent.manifests.ts';

const TESTDATA = join(dirname(fileURLToPath(import.meta.url)), 'testdata');
const UPDATE = process.env['UPDATE_GOLDEN'] === '1';

const collector: Collector = Object.freeze({
  apiVersion: 'wisp.dev/v1alpha1',
  kind: 'Collector',
  metadata: { name: 'default', uid: '00000000-0000-0000-0000-000000000001', generation: 1 },
  spec: {
    namespace: 'wisp-system',
    image: 'wisp:0.1.0',
    nodeSelector: { 'wisp.dev/observe': 'true' },
    tolerations: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' }],
    memoryLimit: '1Gi',
    tableStorePercent: 60,
    sources: ['http', 'dns'],
    namespaces: { include: [], exclude: ['kube-system'] },
    maxBodyBytes: 512,
    dataAccess: 'Full',
  },
}) as Collector;

function golden(name: string, value: unknown): void {
  const text = dump(value, { sortKeys: false, lineWidth: 120 });
  const path = join(TESTDATA, `${name}.yaml`);
  if (UPDATE || !existsSync(path)) {
    if (!UPDATE) assert.fail(`golden file ${path} is missing; run with UPDATE_GOLDEN=1 to create it`);
    mkdirSync(TESTDATA, { recursive: true });
    writeFileSync(path, text);
    return;
  }
  assert.equal(text, readFileSync(path, 'utf8'), `${name} differs from ${path} (UPDATE_GOLDEN=1 rewrites it)`);
}

describe('agent manifests', () => {
  const plan = planForCollector(collector, compileInputs({ tracepoints: [], dataRetentions: [], exportPipelines: [], secretExists: () => false }));

  for (const [name, build] of [
    ['service-account', agentServiceAccount],
    ['cluster-role', agentClusterRole],
    ['cluster-role-binding', agentClusterRoleBinding],
    ['daemonset', agentDaemonSet],
    ['service', agentService],
  ] as const) {
    it(`renders the ${name} as in testdata/${name}.yaml`, () => golden(name, build(collector)));
  }

  it('renders the plan ConfigMap with the plan version annotation', () => {
    const configMap = agentPlanConfigMap(collector, plan);
    golden('plan-configmap', configMap);
    assert.equal(configMap.metadata?.annotations?.['wisp.dev/plan-version'], plan.version);
    assert.equal(JSON.parse(configMap.data!['plan.json']!).version, plan.version);
  });

  it('owns every object through a controller reference to the Collector', () => {
    for (const object of agentObjects(collector, plan)) {
      const refs = (object.metadata as { ownerReferences?: Array<{ uid: string; controller?: boolean }> }).ownerReferences;
      assert.deepEqual(refs?.map((r) => [r.uid, r.controller]), [[collector.metadata.uid, true]], `${object.kind}`);
    }
  });

  it('grants only CAP_BPF and CAP_PERFMON, drops everything else, and is not privileged', () => {
    const container = agentDaemonSet(collector).spec!.template.spec!.containers[0]!;
    assert.deepEqual(container.securityContext?.capabilities, { drop: ['ALL'], add: ['BPF', 'PERFMON'] });
    assert.equal(container.securityContext?.privileged, false);
    assert.equal(container.securityContext?.allowPrivilegeEscalation, false);
    assert.ok(container.volumeMounts!.every((m) => m.readOnly));
  });

  it('gives the agent no write access to anything but its Leases', () => {
    // Creating a TokenReview or SubjectAccessReview stores nothing: it asks the API server a question.
    const reviews = ['tokenreviews', 'subjectaccessreviews'];
    const writes = agentClusterRole(collector).rules!
      .filter((r) => r.verbs.some((v) => ['create', 'update', 'patch', 'delete'].includes(v)))
      .flatMap((r) => r.resources!)
      .filter((resource) => !reviews.includes(resource));
    assert.deepEqual(writes, ['leases']);
  });

  it('does not mutate the Collector', () => {
    const copy = structuredClone(collector);
    agentObjects(collector, plan);
    assert.deepEqual(collector, copy);
  });
});
