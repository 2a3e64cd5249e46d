// What every controller gets: read-only caches (informers), the writer, and a
// memoized plan compilation shared by all of them.
import type { V1Lease, V1Node } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { compileInputs, type CompiledPlan } from '../plan/plan.compiler.ts';
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

/**
 * Compiles the plan inputs once per change, not once per reconcile: every
 * reconcile of every kind reads the same CompiledPlan until an input changes
 * (invalidate()). Secret existence is looked up asynchronously before
 * compiling (compile() is pure and synchronous).
 */
export class PlanCompilation {
  private cached: CompiledPlan | undefined;
  /** Bumped by invalidate(); a compile that raced an invalidation is not cached. */
  private generation = 0;
  private readonly caches: Caches;
  private readonly secretExists: (namespace: string, name: string) => Promise<boolean>;

  private compiledAt = 0;
  private lastDigest = '';
  private readonly onChange: () => void;

  /**
   * onChange is called when a compilation differs from the previous one
   * (verdicts or plan parts), e.g. when a missing Secret appeared: the
   * operator then re-queues every Collector and plan input.
   */
  constructor(caches: Caches, secretExists: (namespace: string, name: string) => Promise<boolean>, onChange: () => void = () => {}) {
    this.caches = caches;
    this.secretExists = secretExists;
    this.onChange = onChange;
  }

  invalidate(): void { this.cached = undefined; this.generation++; }

  async get(): Promise<CompiledPlan> {
    // Secrets are not watched: a compilation that found one missing is redone
    // after SECRET_RECHECK_MS so a Secret created later is noticed.
    const stale = this.cached?.verdicts.some((v) => v.reason === 'SecretNotFound') && Date.now() - this.compiledAt > SECRET_RECHECK_MS;
    if (this.cached && !stale) return this.cached;
    const generation = this.generation;
    const exportPipelines = this.caches.exportPipelines.list();
    const known = new Set<string>();
    await Promise.all(exportPipelines.map(async (ep) => {
      const name = ep.spec?.destination?.otlp?.headersFrom?.secretRef?.name;
      const namespace = ep.metadata.namespace ?? '';
      if (name && (await this.secretExists(namespace, name))) known.add(`${namespace}/${name}`);
    }));
    const compiled = compileInputs({
      tracepoints: this.caches.tracepoints.list(),
      dataRetentions: this.caches.dataRetentions.list(),
      exportPipelines,
      secretExists: (namespace, name) => known.has(`${namespace}/${name}`),
    });
    if (generation === this.generation) { this.cached = compiled; this.compiledAt = Date.now(); }
    const digest = JSON.stringify(compiled);
    if (this.lastDigest && digest !== this.lastDigest) {
      try { this.onChange(); } catch { /* enqueue only */ }
    }
    this.lastDigest = digest;
    return compiled;
  }
}
