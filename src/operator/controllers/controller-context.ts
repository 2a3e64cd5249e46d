// What every controller gets: read-only caches (informers), the writer, and a
// memoized plan compilation shared by all of them.
import { createHash } from 'node:crypto';
import type { V1Lease, V1Node } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { compileInputs, type CompiledPlan, type Verdict } from '../plan/plan.compiler.ts';
import type { Collector, DataRetention, ExportPipeline, Tracepoint } from '../resources.ts';
import type { KubeClient } from '../runtime/kube-client.ts';

export const SECRET_RECHECK_MS = 30_000;

/** The subset of an informer a controller reads. */
export interface Cache<T> {
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): readonly T[];
}

export interface Caches {
  collectors: Cache<Collector>;
  tracepoints: Cache<Tracepoint>;
  dataRetentions: Cache<DataRetention>;
  exportPipelines: Cache<ExportPipeline>;
  nodes: Cache<V1Node>;
  leases: Cache<V1Lease>;
}

export interface ControllerContext {
  caches: Caches;
  client: KubeClient;
  log: Logger;
  plan: PlanCompilation;
  now?: () => Date;
}

/** What a new compilation changed compared with the previous one. */
export interface PlanChange {
  /** Plan inputs whose verdict is new or different: queue keys "<Kind>:<key>". */
  inputs: string[];
  /** The shared plan parts (tables, rollups, tracepoints, exports) changed: every Collector's plan did. */
  plan: boolean;
}

export interface PlanCompilationOptions {
  /**
   * Quiet period after an invalidation before compiling (0: compile on the
   * next get(), nothing in the background). With a quiet period, a burst of
   * input changes costs one compilation, made in the background; the
   * compilation reports what changed through onChange.
   */
  debounceMs?: number;
  /** Upper bound on how long a continuous stream of changes defers compiling. */
  maxDelayMs?: number;
  /** Told when a background compilation failed (it is retried). */
  onError?: (error: unknown) => void;
}

const RETRY_COMPILE_MS = 1000;

/**
 * Compiles the plan inputs once per change, not once per reconcile: every
 * reconcile of every kind reads the same CompiledPlan until an input changes
 * (invalidate()). Secret existence is looked up asynchronously before
 * compiling (compile() is pure and synchronous). Concurrent callers share
 * one compilation.
 */
export class PlanCompilation {
  private cached: CompiledPlan | undefined;
  /** The newest compilation, even if an input changed since (latest()). */
  private newest: CompiledPlan | undefined;
  /** Bumped by invalidate(); a compile that raced an invalidation is not cached. */
  private generation = 0;
  private readonly caches: Caches;
  private readonly secretExists: (namespace: string, name: string) => Promise<boolean>;
  private readonly debounceMs: number;
  private readonly maxDelayMs: number;

  private compiledAt = 0;
  private inflight: { generation: number; promise: Promise<CompiledPlan> } | undefined;
  private quiet: { timer: NodeJS.Timeout; firstAt: number; promise: Promise<void>; resolve: () => void } | undefined;
  /** Of the previous compilation: verdict fingerprints by queue key, and the plan parts' digest. */
  private previousVerdicts: Map<string, string> | undefined;
  private previousPlanDigest = '';
  private readonly verdictIndex = new WeakMap<CompiledPlan, Map<string, Verdict>>();
  private readonly onChange: (change: PlanChange) => void;
  private readonly onError: (error: unknown) => void;
  private closed = false;

  /**
   * onChange is called when a compilation differs from the previous one
   * (verdicts or plan parts), e.g. when a missing Secret appeared or a
   * DataRetention stopped conflicting: the operator then re-queues what
   * changed.
   */
  constructor(caches: Caches, secretExists: (namespace: string, name: string) => Promise<boolean>, onChange: (change: PlanChange) => void = () => {}, options: PlanCompilationOptions = {}) {
    this.caches = caches;
    this.secretExists = secretExists;
    this.onChange = onChange;
    this.onError = options.onError ?? (() => {});
    this.debounceMs = Math.max(0, options.debounceMs ?? 0);
    this.maxDelayMs = Math.max(this.debounceMs, options.maxDelayMs ?? this.debounceMs * 4);
  }

  invalidate(): void {
    this.cached = undefined;
    this.generation++;
    if (this.debounceMs === 0 || this.closed) return;
    const now = Date.now();
    let quiet = this.quiet;
    if (quiet) clearTimeout(quiet.timer);
    else {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => { resolve = r; });
      quiet = { timer: undefined as unknown as NodeJS.Timeout, firstAt: now, promise, resolve };
      this.quiet = quiet;
    }
    const delay = Math.max(0, Math.min(this.debounceMs, quiet.firstAt + this.maxDelayMs - now));
    const current = quiet;
    current.timer = setTimeout(() => {
      if (this.quiet === current) this.quiet = undefined;
      current.resolve();
      if (this.closed) return;
      this.get().catch((error: unknown) => {
        // Readers of latest() wait for this compilation's onChange: retry it.
        try { this.onError(error); } catch { /* logging only */ }
        if (!this.closed) setTimeout(() => this.invalidate(), RETRY_COMPILE_MS).unref?.();
      });
    }, delay);
  }

  /** True while a compilation is due (quiet period) or running: it may queue more work. */
  get busy(): boolean { return !this.closed && (this.quiet !== undefined || this.inflight !== undefined); }

  /** Resolves once no compilation is due or running (it may have reported changes). */
  async settled(): Promise<void> {
    while (this.busy) {
      if (this.quiet) await this.quiet.promise;
      const inflight = this.inflight;
      if (inflight) await inflight.promise.catch(() => {});
      // Let the finally() that clears `inflight` run.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Stops background compilations (the operator lost leadership or stops). */
  close(): void {
    this.closed = true;
    if (this.quiet) { clearTimeout(this.quiet.timer); this.quiet.resolve(); this.quiet = undefined; }
  }

  /** A compilation of the inputs as they are now (waits for a pending quiet period). */
  async get(): Promise<CompiledPlan> {
    if (this.cached && !this.secretRecheckDue()) return this.cached;
    // Wait for one quiet period at most: a continuous stream of changes must not starve readers.
    if (this.quiet && !this.closed) await this.quiet.promise;
    if (this.cached && !this.secretRecheckDue()) return this.cached;
    if (!this.inflight || this.inflight.generation !== this.generation) {
      const generation = this.generation;
      const promise = this.compile(generation);
      const inflight = { generation, promise };
      this.inflight = inflight;
      void promise.catch(() => {}).finally(() => { if (this.inflight === inflight) this.inflight = undefined; });
    }
    return this.inflight.promise;
  }

  /**
   * The newest compilation without waiting for one that is pending: for
   * readers that re-check against their object's generation and are
   * re-queued (onChange) when a later compilation changes their verdict.
   */
  async latest(): Promise<CompiledPlan> {
    if (this.debounceMs === 0 || !this.newest || this.secretRecheckDue()) return this.get();
    return this.cached ?? this.newest;
  }

  /** The verdict of one plan input in a compilation (indexed). */
  verdict(compiled: CompiledPlan, kind: Verdict['kind'], key: string): Verdict | undefined {
    let index = this.verdictIndex.get(compiled);
    if (!index) {
      index = new Map(compiled.verdicts.map((v) => [`${v.kind}:${v.key}`, v]));
      this.verdictIndex.set(compiled, index);
    }
    return index.get(`${kind}:${key}`);
  }

  private secretRecheckDue(): boolean {
    // Secrets are not watched: a compilation that found one missing is redone
    // after SECRET_RECHECK_MS so a Secret created later is noticed.
    const plan = this.cached ?? this.newest;
    return !!plan && Date.now() - this.compiledAt > SECRET_RECHECK_MS && plan.verdicts.some((v) => v.reason === 'SecretNotFound');
  }

  private async compile(generation: number): Promise<CompiledPlan> {
    const exportPipelines = this.caches.exportPipelines.list();
    const known = new Set<string>();
    await Promise.all(exportPipelines.flatMap((ep) => {
      const otlp = ep.spec?.destination?.otlp;
      const namespace = ep.metadata.namespace ?? '';
      // headersFrom and tls Secrets alike.
      return [otlp?.headersFrom?.secretRef?.name, otlp?.tls?.secretRef?.name].map(async (name) => {
        if (name && (await this.secretExists(namespace, name))) known.add(`${namespace}/${name}`);
      });
    }));
    const compiled = compileInputs({
      tracepoints: this.caches.tracepoints.list(),
      dataRetentions: this.caches.dataRetentions.list(),
      exportPipelines,
      secretExists: (namespace, name) => known.has(`${namespace}/${name}`),
    });
    if (generation === this.generation) this.cached = compiled;
    this.newest = compiled;
    this.compiledAt = Date.now();
    this.report(compiled);
    return compiled;
  }

  /** Tells onChange what differs from the previous compilation (nothing on the first). */
  private report(compiled: CompiledPlan): void {
    const verdicts = new Map(compiled.verdicts.map((v) => [`${v.kind}:${v.key}`, `${v.generation ?? ''}\u0000${v.ok}\u0000${v.reason}\u0000${v.message}`]));
    const { tables, rollups, tracepoints, exports } = compiled;
    const planDigest = createHash('sha256').update(JSON.stringify({ tables, rollups, tracepoints, exports })).digest('base64');
    const previous = this.previousVerdicts;
    const planChanged = previous !== undefined && planDigest !== this.previousPlanDigest;
    this.previousVerdicts = verdicts;
    this.previousPlanDigest = planDigest;
    if (!previous) return;
    const inputs: string[] = [];
    for (const [key, fingerprint] of verdicts) if (previous.get(key) !== fingerprint) inputs.push(key);
    if (inputs.length === 0 && !planChanged) return;
    try { this.onChange({ inputs, plan: planChanged }); } catch { /* enqueue only */ }
  }
}

/**
 * Remembers the status each object was last written with, so a reconcile that
 * runs before the informer delivered that write (the cache still holds the
 * old status) does not write (and announce) the same status again.
 */
export class StatusMemo {
  private readonly written = new Map<string, { digest: string; resourceVersion: string | undefined }>();

  /** True when `digest` was written while the object was at the resourceVersion the cache still shows. */
  alreadyWritten(key: string, digest: string, resourceVersion: string | undefined): boolean {
    const entry = this.written.get(key);
    return entry !== undefined && entry.digest === digest && entry.resourceVersion === resourceVersion;
  }

  /** Record a successful write made while the cache showed `resourceVersion`. */
  remember(key: string, digest: string, resourceVersion: string | undefined): void {
    this.written.set(key, { digest, resourceVersion });
  }

  forget(key: string): void { this.written.delete(key); }
}
