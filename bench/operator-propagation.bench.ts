// Plan propagation: from `kubectl apply` of a DataRetention change to every
// one of 20 cluster agents (host processes, --no-capture, each playing a Node)
// reporting the new plan version on its Lease. Baseline in the same run: the
// operator-less path — the same agents, the plan ConfigMap written directly
// with `kubectl apply` — so the ratio is the operator's share.
//
// Times come from watches in this process (Leases of the namespace, the plan
// ConfigMap); t0 is taken just before kubectl starts.
import type { V1ConfigMap, V1Lease } from '@kubernetes/client-node';
import { agentLeaseName, PLAN_CONFIGMAP_NAME, PLAN_KEY, PLAN_VERSION_ANNOTATION, planVersion, type AgentPlan } from '../src/common/agent-plan.ts';
import { freePort, waitFor } from '../test/support/processes.ts';
import { ensureTestbed } from '../test/support/testbed.ts';
import { apply, createNamespace, kubectlRetry, installCrds, loadKubeConfig, summarize, TimedWatch, WispProcess } from './operator-support.ts';
import { printTable } from './support.ts';

const NS = 'wisp-bench-propagation';
const COLLECTOR = 'bench-propagation';
const RETENTION = 'bench-propagation';
const TABLE = 'bench_propagation_events';
const NODE_LABEL = 'wisp.dev/bench-propagation';
const AGENTS = 20;
const ROUNDS = 10;
const ROUND_TIMEOUT_MS = 30_000;
const TARGET_P99_MS = 2000;

const nodeName = (i: number) => `wisp-bench-prop-${String(i).padStart(2, '0')}`;

interface Round { allAppliedMs: number; configMapMs: number; kubectlMs: number; perAgentMs: number[] }

export async function operatorPropagationBench(): Promise<void> {
  const { kubeconfig } = await ensureTestbed();
  await installCrds();
  const kc = loadKubeConfig(kubeconfig);
  const agents: WispProcess[] = [];
  let operator: WispProcess | undefined;
  const watches: Array<TimedWatch<V1Lease> | TimedWatch<V1ConfigMap>> = [];
  // Per Lease name / the ConfigMap: every plan version seen, with the time it was first seen.
  const leaseSeen = new Map<string, Map<string, number>>();
  const leaseNow = new Map<string, string>();
  const configMapSeen = new Map<string, number>();
  let configMapNow = '';
  try {
    await createNamespace(NS);
    await apply(Array.from({ length: AGENTS }, (_, i) => `apiVersion: v1
kind: Node
metadata: {name: ${nodeName(i)}, labels: {${NODE_LABEL}: "yes"}}
`).join('---\n'));

    watches.push(new TimedWatch<V1Lease>(kc, `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`, {}, (phase, lease, at) => {
      const name = lease.metadata?.name ?? '';
      const version = lease.metadata?.annotations?.[PLAN_VERSION_ANNOTATION] ?? '';
      if (phase === 'DELETED') return;
      leaseNow.set(name, version);
      if (!version) return;
      const seen = leaseSeen.get(name) ?? new Map<string, number>();
      if (!seen.has(version)) seen.set(version, at);
      leaseSeen.set(name, seen);
    }));
    watches.push(new TimedWatch<V1ConfigMap>(kc, `/api/v1/namespaces/${NS}/configmaps`, { fieldSelector: `metadata.name=${PLAN_CONFIGMAP_NAME}` }, (phase, cm, at) => {
      const version = cm.metadata?.annotations?.[PLAN_VERSION_ANNOTATION] ?? '';
      if (phase === 'DELETED' || !version) return;
      configMapNow = version;
      if (!configMapSeen.has(version)) configMapSeen.set(version, at);
    }));
    await Promise.all(watches.map((w) => w.start()));

    for (let i = 0; i < AGENTS; i++) {
      const port = await freePort();
      agents.push(WispProcess.start(['agent', '--node-name', nodeName(i), '--kubeconfig', kubeconfig, '-n', NS, '--no-capture', '--listen', `127.0.0.1:${port}`]));
    }
    const leaseNames = Array.from({ length: AGENTS }, (_, i) => agentLeaseName(nodeName(i)));
    await waitFor(`${AGENTS} agent Leases`, () => {
      agents.forEach((a, i) => a.assertRunning(`agent ${nodeName(i)}`));
      return leaseNames.every((n) => leaseNow.has(n)) ? true : undefined;
    }, 120_000);

    /** One change: run `kubectl apply`, then wait until the ConfigMap and every Lease carry a version new to this round. */
    const round = async (document: string): Promise<Round> => {
      const before = configMapNow;
      const t0 = performance.now();
      await apply(document);
      const kubectlMs = performance.now() - t0;
      const version = await waitFor('the plan ConfigMap to change', () => (configMapNow !== before && configMapNow ? configMapNow : undefined), ROUND_TIMEOUT_MS);
      await waitFor(`all ${AGENTS} agents to apply plan ${version}`, () => (leaseNames.every((n) => leaseSeen.get(n)?.has(version)) ? true : undefined), ROUND_TIMEOUT_MS);
      const perAgentMs = leaseNames.map((n) => leaseSeen.get(n)!.get(version)! - t0);
      return { allAppliedMs: Math.max(...perAgentMs), configMapMs: configMapSeen.get(version)! - t0, kubectlMs, perAgentMs };
    };

    // Baseline: no operator; the plan ConfigMap is written directly.
    const baseline: Round[] = [];
    for (let r = 0; r < ROUNDS + 1; r++) {
      const plan: Omit<AgentPlan, 'version'> = {
        schema: 1,
        collector: { name: COLLECTOR, namespaces: { include: [], exclude: [] } },
        tables: [{ name: TABLE, maxBytes: (64 + r) * 2 ** 20, from: `DataRetention/${RETENTION}` }],
        rollups: [], tracepoints: [], exports: [],
      };
      const version = planVersion(plan);
      const configMap = {
        apiVersion: 'v1', kind: 'ConfigMap',
        metadata: { name: PLAN_CONFIGMAP_NAME, namespace: NS, annotations: { [PLAN_VERSION_ANNOTATION]: version } },
        data: { [PLAN_KEY]: JSON.stringify({ ...plan, version }) },
      };
      const result = await round(JSON.stringify(configMap));
      if (r > 0) baseline.push(result); // the first round warms up (agents go from no plan to one)
    }
    await kubectlRetry(['delete', 'configmap', '-n', NS, PLAN_CONFIGMAP_NAME, '--ignore-not-found']);

    // The operator: a Collector for the namespace and a DataRetention whose maxBytes changes each round.
    operator = await WispProcess.operator(kubeconfig);
    const retention = (maxMi: number) => `apiVersion: wisp.dev/v1alpha1
kind: DataRetention
metadata: {name: ${RETENTION}}
spec: {tables: [{name: ${TABLE}, maxBytes: ${maxMi}Mi}]}
`;
    await apply(retention(1000));
    await apply(`apiVersion: wisp.dev/v1alpha1
kind: Collector
metadata: {name: ${COLLECTOR}}
spec: {namespace: ${NS}, nodeSelector: {${NODE_LABEL}: "yes"}}
`);
    await waitFor('every agent on the operator\'s first plan', () => (configMapNow && leaseNames.every((n) => leaseNow.get(n) === configMapNow) ? true : undefined), 60_000);
    const measured: Round[] = [];
    for (let r = 0; r < ROUNDS + 1; r++) {
      const result = await round(retention(2000 + r));
      operator.assertRunning('operator');
      if (r > 0) measured.push(result);
    }

    const base = summarize(baseline.flatMap((r) => r.perAgentMs));
    const op = summarize(measured.flatMap((r) => r.perAgentMs));
    const baseAll = summarize(baseline.map((r) => r.allAppliedMs));
    const opAll = summarize(measured.map((r) => r.allAppliedMs));
    const baseCm = summarize(baseline.map((r) => r.configMapMs));
    const opCm = summarize(measured.map((r) => r.configMapMs));
    const baseKubectl = summarize(baseline.map((r) => r.kubectlMs));
    const opKubectl = summarize(measured.map((r) => r.kubectlMs));
    printTable(`plan propagation to ${AGENTS} agents, ${ROUNDS} changes each (ms from just before kubectl apply)`, [
      ['measure', 'ConfigMap direct (baseline)', 'DataRetention via operator', 'ratio'],
      ['kubectl apply returned, p50', baseKubectl.p50, opKubectl.p50, opKubectl.p50 / baseKubectl.p50],
      ['plan ConfigMap changed, p50', baseCm.p50, opCm.p50, opCm.p50 / baseCm.p50],
      ['plan ConfigMap changed, max', baseCm.max, opCm.max, opCm.max / baseCm.max],
      [`per-agent delay p50 (n=${op.n})`, base.p50, op.p50, op.p50 / base.p50],
      ['per-agent delay p99', base.p99, op.p99, op.p99 / base.p99],
      ['per-agent delay max', base.max, op.max, op.max / base.max],
      [`all agents applied p50 (n=${opAll.n})`, baseAll.p50, opAll.p50, opAll.p50 / baseAll.p50],
      ['all agents applied p99', baseAll.p99, opAll.p99, opAll.p99 / baseAll.p99],
      ['all agents applied max', baseAll.max, opAll.max, opAll.max / baseAll.max],
    ]);
    printTable('per round via the operator (ms): all agents applied / ConfigMap changed / fastest agent', [
      ['round', 'all applied', 'ConfigMap', 'fastest agent'],
      ...measured.map((r, i) => [String(i + 1), r.allAppliedMs, r.configMapMs, Math.min(...r.perAgentMs)]),
    ]);
    process.stdout.write(`  target: all agents applied p99 ≤ ${TARGET_P99_MS} ms — ${opAll.p99 <= TARGET_P99_MS ? 'met' : 'NOT met'} (${opAll.p99.toFixed(0)} ms; operator's share at p50 ${(opAll.p50 - baseAll.p50).toFixed(0)} ms)\n`);
  } finally {
    for (const w of watches) w.stop();
    // The operator removes the Collector's finalizer: delete it while the operator runs.
    await kubectlRetry(['delete', 'collector', COLLECTOR, '--ignore-not-found', '--timeout=30s'], { allowFailure: true });
    await operator?.stop();
    await kubectlRetry(['patch', 'collector', COLLECTOR, '--type=merge', '-p', '{"metadata":{"finalizers":null}}'], { allowFailure: true });
    await Promise.all(agents.map((a) => a.stop()));
    await kubectlRetry(['delete', 'dataretention', RETENTION, '--ignore-not-found'], { allowFailure: true });
    await kubectlRetry(['delete', 'node', ...Array.from({ length: AGENTS }, (_, i) => nodeName(i)), '--ignore-not-found'], { allowFailure: true });
    await kubectlRetry(['delete', 'namespace', NS, '--ignore-not-found', '--wait=false'], { allowFailure: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await operatorPropagationBench();
