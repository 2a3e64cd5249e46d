// Operator scale: 500 Tracepoints created at once (parallel API creates) until
// every one has a Ready condition (True, or False with a reason) whose
// observedGeneration is the object's generation; the operator's RSS is
// sampled every 100 ms. Baseline in the same run: the same with 50
// Tracepoints, so the ratio shows how the operator scales.
import { CustomObjectsApi, type KubernetesObject } from '@kubernetes/client-node';
import { waitFor } from '../test/support/processes.ts';
import { ensureTestbed, kubectl } from '../test/support/testbed.ts';
import { apply, createNamespace, kubectlRetry, installCrds, loadKubeConfig, TimedWatch, WispProcess } from './operator-support.ts';
import { cpuSeconds, printTable, rssBytes } from './support.ts';

const NS = 'wisp-bench-scale';
const COLLECTOR = 'bench-scale';
const SIZES = [50, 500] as const;
const CREATE_CONCURRENCY = 32;
const TIMEOUT_MS = 180_000;
const TARGET_MS = 10_000;
const TARGET_RSS_BYTES = 200 * 2 ** 20;

interface Tracepoint extends KubernetesObject {
  status?: { observedGeneration?: number; conditions?: Array<{ type: string; status: string; reason?: string; observedGeneration?: number }> };
}

interface Result { count: number; createdMs: number; allReadyMs: number; ready: number; notReady: number; idleRss: number; peakRss: number; cpu: number }

function tracepoint(i: number): Tracepoint & { spec: unknown } {
  return {
    apiVersion: 'wisp.dev/v1alpha1', kind: 'Tracepoint',
    metadata: { name: `bench-tp-${String(i).padStart(4, '0')}`, namespace: NS },
    spec: {
      target: { selector: { matchLabels: { app: `bench-${i % 25}` } }, container: 'server', process: '^/app/server$' },
      probes: [{ function: `main.handler${i}`, args: [{ name: 'n', expr: 'req.N' }], returnValues: [{ name: 'err', expr: '$0' }], latency: true }],
      table: `bench_tp_${i}`,
      ttl: '10m',
    },
  };
}

/** Ready set (any status, with a reason) and observedGeneration = generation. */
function judged(tp: Tracepoint): 'True' | 'False' | undefined {
  const ready = tp.status?.conditions?.find((c) => c.type === 'Ready');
  const generation = tp.metadata?.generation;
  if (!ready || !ready.reason || generation === undefined || ready.observedGeneration !== generation) return undefined;
  return ready.status === 'True' ? 'True' : 'False';
}

async function inParallel<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) await work(items[next++]!);
  }));
}

export async function operatorScaleBench(): Promise<void> {
  const { kubeconfig } = await ensureTestbed();
  await installCrds();
  const kc = loadKubeConfig(kubeconfig);
  const custom = kc.makeApiClient(CustomObjectsApi);
  let operator: WispProcess | undefined;
  const results: Result[] = [];
  try {
    await createNamespace(NS);
    await kubectl(['delete', 'tracepoints', '-n', NS, '--all', '--ignore-not-found']);
    operator = await WispProcess.operator(kubeconfig);
    // A Collector whose plan carries the Tracepoints (no node matches: no agents here).
    await apply(`apiVersion: wisp.dev/v1alpha1
kind: Collector
metadata: {name: ${COLLECTOR}}
spec: {namespace: ${NS}, nodeSelector: {wisp.dev/bench-scale: "none"}}
`);
    await waitFor('the Collector to be reconciled', async () => {
      const out = await kubectl(['get', 'collector', COLLECTOR, '-o', 'jsonpath={.status.conditions[?(@.type=="PlanPublished")].status}']);
      return out.stdout.trim() === 'True' ? true : undefined;
    }, 60_000);

    for (const count of SIZES) {
      const state = new Map<string, 'True' | 'False' | undefined>();
      let doneAt = 0;
      let t0 = 0;
      const watch = new TimedWatch<Tracepoint>(kc, `/apis/wisp.dev/v1alpha1/namespaces/${NS}/tracepoints`, {}, (phase, tp, at) => {
        const name = tp.metadata?.name ?? '';
        if (phase === 'DELETED') { state.delete(name); return; }
        state.set(name, judged(tp));
        if (!doneAt && t0 && state.size === count && [...state.values()].every((v) => v !== undefined)) doneAt = at;
      });
      await watch.start();
      const idleRss = rssBytes(operator.pid);
      let peakRss = idleRss;
      const sampler = setInterval(() => { peakRss = Math.max(peakRss, rssBytes(operator!.pid)); }, 100);
      const cpu0 = cpuSeconds(operator.pid);
      try {
        const items = Array.from({ length: count }, (_, i) => tracepoint(i));
        t0 = performance.now();
        await inParallel(items, CREATE_CONCURRENCY, (body) => custom.createNamespacedCustomObject({ group: 'wisp.dev', version: 'v1alpha1', namespace: NS, plural: 'tracepoints', body }));
        const createdMs = performance.now() - t0;
        await waitFor(`${count} Tracepoints with Ready and observedGeneration`, () => {
          operator!.assertRunning('operator');
          return doneAt ? true : undefined;
        }, TIMEOUT_MS);
        const values = [...state.values()];
        results.push({
          count, createdMs, allReadyMs: doneAt - t0, idleRss, peakRss, cpu: cpuSeconds(operator.pid) - cpu0,
          ready: values.filter((v) => v === 'True').length, notReady: values.filter((v) => v === 'False').length,
        });
      } finally {
        clearInterval(sampler);
        watch.stop();
      }
      // Clean up before the next size, and let the operator settle (the plan shrinks back).
      await kubectlRetry(['delete', 'tracepoints', '-n', NS, '--all', '--ignore-not-found', '--timeout=120s'], { timeoutMs: 180_000 });
      await waitFor('the Collector plan to settle', async () => {
        const out = await kubectlRetry(['get', 'configmap', '-n', NS, 'wisp-agent-plan', '-o', 'jsonpath={.data.plan\\.json}']);
        return !out.includes('bench-tp-') ? true : undefined;
      }, 60_000);
    }

    const [small, large] = results as [Result, Result];
    const mib = (b: number) => b / 2 ** 20;
    printTable(`operator: Tracepoints created at once until all have Ready + observedGeneration (${CREATE_CONCURRENCY} parallel creates)`, [
      ['measure', `${small.count} (baseline)`, String(large.count), 'ratio'],
      ['all created (API), ms', small.createdMs, large.createdMs, large.createdMs / small.createdMs],
      ['all reconciled with status, ms', small.allReadyMs, large.allReadyMs, large.allReadyMs / small.allReadyMs],
      ['per Tracepoint, ms', small.allReadyMs / small.count, large.allReadyMs / large.count, (large.allReadyMs / large.count) / (small.allReadyMs / small.count)],
      ['Ready=True / Ready=False', `${small.ready}/${small.notReady}`, `${large.ready}/${large.notReady}`, ''],
      ['operator CPU seconds', small.cpu, large.cpu, large.cpu / small.cpu],
      ['operator RSS before, MiB', mib(small.idleRss), mib(large.idleRss), large.idleRss / small.idleRss],
      ['operator peak RSS, MiB', mib(small.peakRss), mib(large.peakRss), large.peakRss / small.peakRss],
    ]);
    process.stdout.write(`  target: ${large.count} reconciled in ≤ ${TARGET_MS / 1000} s — ${large.allReadyMs <= TARGET_MS ? 'met' : 'NOT met'} (${(large.allReadyMs / 1000).toFixed(2)} s); `
      + `peak RSS ≤ ${mib(TARGET_RSS_BYTES)} MiB — ${large.peakRss <= TARGET_RSS_BYTES ? 'met' : 'NOT met'} (${mib(large.peakRss).toFixed(0)} MiB)\n`);
  } finally {
    await kubectlRetry(['delete', 'tracepoints', '-n', NS, '--all', '--ignore-not-found'], { timeoutMs: 180_000, allowFailure: true });
    // The operator removes the Collector's finalizer: delete it while the operator runs.
    await kubectlRetry(['delete', 'collector', COLLECTOR, '--ignore-not-found', '--timeout=30s'], { allowFailure: true });
    await operator?.stop();
    await kubectlRetry(['patch', 'collector', COLLECTOR, '--type=merge', '-p', '{"metadata":{"finalizers":null}}'], { allowFailure: true });
    await kubectlRetry(['delete', 'namespace', NS, '--ignore-not-found', '--wait=false'], { allowFailure: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await operatorScaleBench();
