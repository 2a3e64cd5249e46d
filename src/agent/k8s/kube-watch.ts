// List, then watch from the list's resourceVersion; on any end or error,
// start over after a capped backoff. The agent's Kubernetes context comes
// from two of these (pods of its node, every EndpointSlice); they never throw
// and never stop the agent.
import { Watch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';

export const WATCH_DEFAULTS = Object.freeze({
  retryMs: 500,
  retryMaxMs: 10_000,
});

export interface KubeWatchOptions<T extends KubernetesObject> {
  kubeConfig: KubeConfig;
  /** Collection path, e.g. /api/v1/pods. */
  path: string;
  fieldSelector?: string;
  list: () => Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>;
  /** The full set after each (re-)list. */
  onList: (items: readonly T[]) => void;
  onEvent: (phase: 'ADDED' | 'MODIFIED' | 'DELETED', object: T) => void;
  logger: Logger;
}

export class KubeWatch<T extends KubernetesObject> {
  private readonly options: KubeWatchOptions<T>;
  private abort: AbortController | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs: number = WATCH_DEFAULTS.retryMs;
  private stopped = false;
  private syncedOnce = false;
  private readonly syncWaiters: Array<() => void> = [];

  constructor(options: KubeWatchOptions<T>) {
    this.options = options;
  }

  /** Starts; resolves after the first successful list. */
  start(): Promise<void> {
    this.run();
    return this.synced();
  }

  synced(): Promise<void> {
    return this.syncedOnce ? Promise.resolve() : new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.abort?.abort();
    for (const resolve of this.syncWaiters.splice(0)) resolve();
  }

  private run(): void {
    if (this.stopped) return;
    const { path, fieldSelector, logger } = this.options;
    const restart = (error: unknown): void => {
      if (this.stopped) return;
      if (error) logger.warn({ path, err: error instanceof Error ? error.message.split('\n')[0] : String(error), retryMs: this.retryMs }, 'watch ended; retrying');
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.run(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, WATCH_DEFAULTS.retryMaxMs);
    };
    this.options.list().then(async (list) => {
      if (this.stopped) return;
      this.options.onList(list.items);
      this.syncedOnce = true;
      for (const resolve of this.syncWaiters.splice(0)) resolve();
      this.abort = await new Watch(this.options.kubeConfig).watch(
        path,
        { ...(fieldSelector && { fieldSelector }), resourceVersion: list.metadata?.resourceVersion, allowWatchBookmarks: true },
        (phase: string, object: T) => {
          this.retryMs = WATCH_DEFAULTS.retryMs;
          if (phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED') {
            try {
              this.options.onEvent(phase, object);
            } catch (error) {
              logger.warn({ path, err: (error as Error).message }, 'watch handler failed');
            }
          }
        },
        // A normal end (the server closes watches after a while) re-lists too: simple and rare.
        (error) => restart(error ?? null),
      );
    }).catch(restart);
  }
}
