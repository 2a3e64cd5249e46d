// Shared pieces of the operator benchmarks: the operator and cluster agents as
// host processes against the test bed, watches that timestamp every change,
// and percentiles.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Watch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { loadKubeConfig as loadSharedKubeConfig } from '../src/common/kube-config.ts';
import { freePort, requireBuilt, ROOT, stop, waitFor, WISP } from '../test/support/processes.ts';
import { kubectl } from '../test/support/testbed.ts';

/** A `wisp` child process (operator or agent) whose stderr tail is kept for error messages. */
export class WispProcess {
  readonly child: ChildProcess;
  private stderr = '';

  private constructor(child: ChildProcess) {
    this.child = child;
    child.stderr?.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-4000); });
  }

  static start(args: readonly string[]): WispProcess {
    requireBuilt();
    return new WispProcess(spawn(WISP, args, { stdio: ['ignore', 'ignore', 'pipe'] }));
  }

  /** `wisp operator` with a health endpoint on a free port; resolves once /readyz says the caches synced. */
  static async operator(kubeconfig: string): Promise<WispProcess> {
    const port = await freePort();
    const operator = WispProcess.start(['operator', '--kubeconfig', kubeconfig, '--health-listen', `127.0.0.1:${port}`]);
    await waitFor('the operator to be ready', async () => {
      operator.assertRunning('operator');
      const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
      return res?.ok ? true : undefined;
    }, 60_000);
    return operator;
  }

  get pid(): number { return this.child.pid!; }
  get log(): string { return this.stderr; }

  assertRunning(what: string): void {
    if (this.child.exitCode !== null || this.child.signalCode !== null) {
      throw new Error(`${what} exited (${this.child.exitCode ?? this.child.signalCode}): ${this.stderr.trim()}`);
    }
  }

  stop(): Promise<void> { return stop(this.child); }
}

export function loadKubeConfig(kubeconfig: string): KubeConfig {
  return loadSharedKubeConfig({ kubeconfig });
}

/**
 * A watch (list + watch, restarted on any end) that calls onEvent with every
 * object it sees and the time (performance.now()) the event arrived.
 */
export class TimedWatch<T extends KubernetesObject> {
  private abort: AbortController | undefined;
  private stopped = false;
  private readonly kc: KubeConfig;
  private readonly path: string;
  private readonly query: Record<string, string>;
  private readonly onEvent: (phase: string, object: T, at: number) => void;

  constructor(kc: KubeConfig, path: string, query: Record<string, string>, onEvent: (phase: string, object: T, at: number) => void) {
    this.kc = kc;
    this.path = path;
    this.query = query;
    this.onEvent = onEvent;
  }

  /** Resolves once the watch is established (the initial ADDED events may still be arriving). */
  async start(): Promise<void> {
    if (this.stopped) return;
    this.abort = await new Watch(this.kc).watch(this.path, { ...this.query, allowWatchBookmarks: true }, (phase, object: T) => {
      if (phase !== 'BOOKMARK') this.onEvent(phase, object, performance.now());
    }, () => {
      if (!this.stopped) setTimeout(() => void this.start().catch(() => {}), 200);
    });
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

export function summarize(values: readonly number[]): { p50: number; p99: number; max: number; n: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? NaN, n: sorted.length };
}

/** Installs the CRDs (idempotent) and waits until they serve. */
export async function installCrds(): Promise<void> {
  await kubectlRetry(['apply', '--server-side', '--field-manager=wisp-bench', '-f', join(ROOT, 'crds')]);
  await kubectlRetry(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
}

export async function createNamespace(name: string): Promise<void> {
  // Reuse an Active one; one left terminating by an earlier run must be gone first.
  await waitFor(`namespace ${name} from an earlier run to be deleted`, async () => {
    const got = await kubectl(['get', 'namespace', name, '-o', 'jsonpath={.status.phase}']);
    if (/connection refused/i.test(got.stderr)) return undefined;
    return got.code !== 0 || got.stdout.trim() === 'Active' ? true : undefined;
  }, 120_000);
  await kubectlRetry(['create', 'namespace', name], { allowFailure: true });
  await kubectlRetry(['get', 'namespace', name, '-o', 'name']);
}

/** `kubectl apply --server-side` of a YAML or JSON document on stdin. */
export function apply(document: string, fieldManager = 'wisp-bench'): Promise<string> {
  return kubectlRetry(['apply', '--server-side', '--force-conflicts', `--field-manager=${fieldManager}`, '-f', '-'], { input: document });
}

/**
 * kubectl that waits out an API server restart (other suites share the test
 * bed and may restart it): retries while the connection is refused, up to a
 * minute; throws unless it finally exits 0 (or `allowFailure`).
 */
export async function kubectlRetry(args: readonly string[], options: { input?: string; timeoutMs?: number; allowFailure?: boolean } = {}): Promise<string> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const result = await kubectl(args, options);
    if (result.code === 0) return result.stdout;
    if (/connection refused|connect: connection reset|EOF/i.test(result.stderr) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      continue;
    }
    if (options.allowFailure) return '';
    throw new Error(`kubectl ${args.join(' ')} failed (exit ${result.code}): ${result.stderr.trim()}`);
  }
}
