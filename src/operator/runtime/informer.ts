// An informer that never gives up.
//
// client-node's ListWatch re-watches on normal watch ends and 410 Gone, but on
// any other error (API server down, connection refused, list failure) it
// reports ERROR and stops for good. This wrapper restarts it with capped
// exponential backoff, so the operator survives API server restarts without
// a restart of its own. It never throws and never exits the process.
import type { KubeConfig, KubernetesObject, ListPromise } from '@kubernetes/client-node';
import { makeInformer } from '@kubernetes/client-node';

export const DEFAULTS = Object.freeze({
  baseRetryMs: 500,
  maxRetryMs: 30_000,
});

export interface InformerOptions<T extends KubernetesObject> {
  kubeConfig: KubeConfig;
  /** Collection path, e.g. /apis/wisp.dev/v1alpha1/collectors. */
  path: string;
  list: ListPromise<T>;
  labelSelector?: string;
  /** Called for every add, update and delete (after the cache changed). */
  onChange: (object: T, verb: 'add' | 'update' | 'delete') => void;
  onError?: (path: string, error: unknown, retryInMs: number) => void;
  baseRetryMs?: number;
  maxRetryMs?: number;
}

export class ResilientInformer<T extends KubernetesObject> {
  readonly path: string;
  private readonly informer: ReturnType<typeof makeInformer<T>>;
  private readonly options: InformerOptions<T>;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = true;
  private syncedOnce = false;
  private syncWaiters: Array<() => void> = [];

  constructor(options: InformerOptions<T>) {
    this.options = options;
    this.path = options.path;
    this.informer = makeInformer(options.kubeConfig, options.path, options.list, options.labelSelector);
    for (const verb of ['add', 'update', 'delete'] as const) {
      this.informer.on(verb, (object: T) => {
        this.failures = 0;
        try { options.onChange(object, verb); } catch { /* handlers only enqueue; never let one break the watch */ }
      });
    }
    this.informer.on('error', (error: unknown) => this.scheduleRestart(error));
  }

  /** Starts listing and watching; resolves after the first successful list (or never if stopped first). */
  async start(): Promise<void> {
    this.stopped = false;
    void this.startOnce();
    await this.synced();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.informer.stop();
    const waiters = this.syncWaiters;
    this.syncWaiters = [];
    for (const resolve of waiters) resolve();
  }

  get hasSynced(): boolean { return this.syncedOnce; }

  get(name: string, namespace?: string): T | undefined { return this.informer.get(name, namespace); }

  list(namespace?: string): readonly T[] { return this.informer.list(namespace); }

  private synced(): Promise<void> {
    if (this.syncedOnce || this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  private async startOnce(): Promise<void> {
    let failed = false;
    const onError = () => { failed = true; };
    this.informer.on('error', onError);
    try {
      await this.informer.start();
    } catch (error) {
      failed = true;
      this.scheduleRestart(error);
    } finally {
      this.informer.off('error', onError);
    }
    if (!failed && !this.stopped && !this.syncedOnce) {
      this.syncedOnce = true;
      this.failures = 0;
      const waiters = this.syncWaiters;
      this.syncWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  private scheduleRestart(error: unknown): void {
    if (this.stopped || this.retryTimer) return;
    const base = this.options.baseRetryMs ?? DEFAULTS.baseRetryMs;
    const max = this.options.maxRetryMs ?? DEFAULTS.maxRetryMs;
    const delayMs = Math.min(max, base * 2 ** Math.min(this.failures, 20));
    this.failures++;
    try { this.options.onError?.(this.path, error, delayMs); } catch { /* logging only */ }
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.stopped) void this.startOnce();
    }, delayMs);
  }
}
