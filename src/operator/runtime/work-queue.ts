// A key-deduplicating work queue with controller-runtime semantics.
//
// Contracts:
// - Keys, not events: adding a key that is already waiting is a no-op.
// - One reconcile in flight per key: a key added while its reconcile runs is
//   marked dirty and queued once more after that reconcile ends (however many
//   times it was added meanwhile).
// - A reconcile that throws is retried after a per-key exponential backoff
//   (baseDelayMs · 2^failures, capped at maxDelayMs); success resets it.
// - A reconcile may return { requeueAfterMs } to be called again later
//   (level-based periodic re-checks); an earlier add() still wins.
// - At most `concurrency` reconciles run at once.
// - shutdown() stops taking work, cancels timers and waits for the reconciles
//   in flight; it never rejects.

export const DEFAULTS = Object.freeze({
  concurrency: 2,
  baseDelayMs: 100,
  maxDelayMs: 60_000,
});

export interface ReconcileResult {
  /** Reconcile this key again after this many ms, even without a change. */
  requeueAfterMs?: number;
}

export type Reconciler = (key: string) => Promise<ReconcileResult | void>;

export interface WorkQueueOptions {
  reconcile: Reconciler;
  concurrency?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Told about every failed reconcile (the queue retries it). */
  onError?: (key: string, error: unknown, retryInMs: number) => void;
}

export class WorkQueue {
  private readonly reconcile: Reconciler;
  private readonly concurrency: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly onError: (key: string, error: unknown, retryInMs: number) => void;
  /** Keys waiting to run, in arrival order (a Set keeps them unique). */
  private readonly waiting = new Set<string>();
  private readonly inFlight = new Set<string>();
  /** Keys added while in flight: queued again when their reconcile ends. */
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly running = new Set<Promise<void>>();
  private stopped = false;
  private idleWaiters: Array<() => void> = [];

  constructor(options: WorkQueueOptions) {
    this.reconcile = options.reconcile;
    this.concurrency = Math.max(1, options.concurrency ?? DEFAULTS.concurrency);
    this.baseDelayMs = options.baseDelayMs ?? DEFAULTS.baseDelayMs;
    this.maxDelayMs = options.maxDelayMs ?? DEFAULTS.maxDelayMs;
    this.onError = options.onError ?? (() => {});
  }

  /** Queue a key now (cancels a pending delayed add of the same key). */
  add(key: string): void {
    if (this.stopped) return;
    this.cancelTimer(key);
    if (this.inFlight.has(key)) { this.dirty.add(key); return; }
    this.waiting.add(key);
    this.pump();
  }

  /** Queue a key after delayMs; an earlier pending add of the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.stopped) return;
    if (delayMs <= 0) { this.add(key); return; }
    const at = Date.now() + delayMs;
    const pending = this.timers.get(key);
    if (pending && pending.at <= at) return;
    this.cancelTimer(key);
    const timer = setTimeout(() => { this.timers.delete(key); this.add(key); }, delayMs);
    timer.unref?.();
    this.timers.set(key, { at, timer });
  }

  /** Forget a key's failure count (e.g. when its object is deleted). */
  forget(key: string): void { this.failures.delete(key); }

  /** Failures in a row for a key (0 after a success). */
  failureCount(key: string): number { return this.failures.get(key) ?? 0; }

  /** Keys waiting or running; delayed adds are not counted. */
  get length(): number { return this.waiting.size + this.inFlight.size; }

  /** Resolves when nothing waits or runs (delayed adds may still fire later). */
  async idle(): Promise<void> {
    if (this.length === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.waiting.clear();
    this.dirty.clear();
    await Promise.allSettled([...this.running]);
    this.notifyIdle();
  }

  private cancelTimer(key: string): void {
    const pending = this.timers.get(key);
    if (pending) { clearTimeout(pending.timer); this.timers.delete(key); }
  }

  private pump(): void {
    while (!this.stopped && this.inFlight.size < this.concurrency) {
      const next = this.waiting.values().next();
      if (next.done) break;
      const key = next.value;
      this.waiting.delete(key);
      this.inFlight.add(key);
      const run = this.runOne(key);
      this.running.add(run);
      void run.finally(() => this.running.delete(run));
    }
  }

  private async runOne(key: string): Promise<void> {
    let requeueAfterMs: number | undefined;
    let retryInMs: number | undefined;
    try {
      const result = await this.reconcile(key);
      this.failures.delete(key);
      requeueAfterMs = result?.requeueAfterMs;
    } catch (error) {
      const failures = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, failures);
      retryInMs = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(failures - 1, 30));
      try { this.onError(key, error, retryInMs); } catch { /* a logger must not break the queue */ }
    }
    this.inFlight.delete(key);
    if (!this.stopped) {
      if (this.dirty.delete(key)) this.waiting.add(key);
      else if (retryInMs !== undefined) this.addAfter(key, retryInMs);
      else if (requeueAfterMs !== undefined && requeueAfterMs >= 0) this.addAfter(key, requeueAfterMs);
    }
    this.pump();
    if (this.length === 0) this.notifyIdle();
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
