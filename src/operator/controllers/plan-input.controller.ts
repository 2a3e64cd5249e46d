// Tracepoint, DataRetention and ExportPipeline: each is compiled into the one
// agent plan (by the Collector controller); this controller writes each
// object's own status — Ready=True when it is in the plan, Ready=False with
// the compiler's reason (Conflict, InvalidSelector, SecretNotFound, …)
// otherwise. Terminal problems are status, not errors: nothing is retried
// until the object (or what it refers to) changes.
import { API_VERSION, KINDS, splitKey } from '../resources.ts';
import { type Condition, type ConditionInput, setConditions, stableJson } from '../runtime/conditions.ts';
import type { ReconcileResult } from '../runtime/work-queue.ts';
import { SECRET_RECHECK_MS, StatusMemo, type ControllerContext } from './controller-context.ts';
import type { Verdict } from '../plan/plan.compiler.ts';
import { exportingCondition, exportTotals } from './export-status.ts';
import { exportSecretRole, exportSecretRoleBinding, pipelineSecrets } from '../manifests/export-grants.manifests.ts';
import type { ExportPipeline } from '../resources.ts';

export type PlanInputKind = 'Tracepoint' | 'DataRetention' | 'ExportPipeline';


export const PLAN_INPUT_CONTROLLERS = Object.freeze({
  Tracepoint: {
    watches: ['wisp.dev/v1alpha1 Tracepoint'], owns: [],
    rbac: [{ apiGroups: ['wisp.dev'], resources: ['tracepoints'], verbs: ['get', 'list', 'watch'] }, { apiGroups: ['wisp.dev'], resources: ['tracepoints/status'], verbs: ['patch'] }],
  },
  DataRetention: {
    watches: ['wisp.dev/v1alpha1 DataRetention (all: conflicts are between objects)'], owns: [],
    rbac: [{ apiGroups: ['wisp.dev'], resources: ['dataretentions'], verbs: ['get', 'list', 'watch'] }, { apiGroups: ['wisp.dev'], resources: ['dataretentions/status'], verbs: ['patch'] }],
  },
  ExportPipeline: {
    watches: ['wisp.dev/v1alpha1 ExportPipeline', 'v1 Secret (get, by name)'], owns: [],
    rbac: [
      { apiGroups: ['wisp.dev'], resources: ['exportpipelines'], verbs: ['get', 'list', 'watch'] }, { apiGroups: ['wisp.dev'], resources: ['exportpipelines/status'], verbs: ['patch'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['get'] }, { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'], verbs: ['create', 'patch', 'delete'] },
    ],
  },
} as const);

export class PlanInputController {
  private readonly ctx: ControllerContext;
  private readonly kind: PlanInputKind;
  private readonly written = new StatusMemo();
  /** ExportPipeline key → the Secret grant last applied (names and agent namespaces), to apply only changes. */
  private readonly grants = new Map<string, string>();

  constructor(ctx: ControllerContext, kind: PlanInputKind) {
    this.ctx = ctx;
    this.kind = kind;
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const { namespace, name } = splitKey(key);
    const object = this.cache().get(name, namespace);
    if (!object || object.metadata.deletionTimestamp) { this.written.forget(key); this.grants.delete(key); return {}; }
    const generation = object.metadata.generation;
    // The newest compilation, even if a newer one is pending: when that one
    // changes this object's verdict it re-queues this object (PlanChange).
    const compiled = await this.ctx.plan.latest();
    const verdict: Verdict | undefined = this.ctx.plan.verdict(compiled, this.kind, key);
    // Not compiled yet at this generation: the pending compilation re-queues it.
    if (!verdict || verdict.generation !== generation) return {};
    let update: ConditionInput = {
      type: 'Ready',
      status: verdict.ok ? 'True' : 'False',
      reason: verdict.reason,
      message: verdict.message,
      ...(generation !== undefined && { observedGeneration: generation }),
    };
    const extra: ConditionInput[] = [];
    // ExportPipeline: the agents' counters and errors (from their Leases) join the status.
    let exportStatus: Record<string, unknown> = {};
    if (this.kind === 'ExportPipeline') {
      await this.grantSecrets(key, object as ExportPipeline);
      const totals = exportTotals(this.ctx.caches.leases.list(), key);
      const exporting = exportingCondition(totals, generation);
      if (verdict.ok && exporting.status === 'False') update = { ...update, status: 'False', reason: exporting.reason, message: exporting.message };
      extra.push(exporting);
      exportStatus = {
        exported: totals.exported, dropped: totals.dropped, droppedByReason: totals.droppedByReason,
        ...(totals.lastExportTime && { lastExportTime: totals.lastExportTime }),
        ...(totals.lastError && { lastError: totals.lastError.slice(0, 4096), lastErrorTime: totals.lastErrorTime }),
      };
    }
    if (this.kind === 'DataRetention') {
      extra.push(verdict.reason === 'Conflict'
        ? { ...update, type: 'Conflicting', status: 'True' }
        : { type: 'Conflicting', status: 'False', reason: 'NoConflict', message: 'no other DataRetention budgets these tables or rollups', ...(generation !== undefined && { observedGeneration: generation }) });
    }
    if (this.kind === 'ExportPipeline' && object.spec && 'destination' in object.spec && object.spec.destination?.otlp?.headersFrom) {
      extra.push(verdict.reason === 'SecretNotFound'
        ? { ...update, type: 'SecretsResolved', status: 'False' }
        : { type: 'SecretsResolved', status: 'True', reason: 'SecretsFound', message: 'every referenced Secret exists', ...(generation !== undefined && { observedGeneration: generation }) });
    }
    const previous = (object.status?.conditions ?? []) as Condition[];
    const { conditions, transitions } = setConditions(previous, [update, ...extra]);
    const status = { ...(generation !== undefined && { observedGeneration: generation }), conditions, ...exportStatus };
    // Key order ignored: the cached status is as the API server serialized it.
    const wanted = stableJson(conditions.map(strip)) + stableJson(exportStatus);
    const digest = `${generation ?? ''} ${wanted}`;
    const unchanged = object.status?.observedGeneration === generation && transitions.length === 0
      && stableJson(previous.map(strip)) + stableJson(pickExportStatus(object.status as Record<string, unknown> | undefined, exportStatus)) === wanted;
    // Written already, and the cache has not caught up with that write yet.
    const pending = this.written.alreadyWritten(key, digest, object.metadata.resourceVersion);
    if (!unchanged && !pending) {
      await this.ctx.client.applyStatus(KINDS[this.kind].plural, {
        apiVersion: API_VERSION, kind: this.kind, metadata: { name, ...(namespace && { namespace }) }, status,
      });
      this.written.remember(key, digest, object.metadata.resourceVersion);
      for (const t of transitions) {
        this.ctx.client.event({
          regarding: { apiVersion: API_VERSION, kind: this.kind, name, ...(namespace && { namespace }), ...(object.metadata.uid && { uid: object.metadata.uid }) },
          type: t.to === 'True' ? 'Normal' : 'Warning',
          reason: t.reason,
          note: `${t.type}=${t.to}: ${t.message}`,
          action: 'Compile',
        });
      }
    }
    return verdict.reason === 'SecretNotFound' ? { requeueAfterMs: SECRET_RECHECK_MS + 1000 } : {};
  }

  /**
   * Lets the agents read exactly the Secrets the pipeline names (a Role with
   * resourceNames in its namespace, bound to every Collector's agents), and
   * nothing once it names none. Applied only when that changes.
   */
  private async grantSecrets(key: string, pipeline: ExportPipeline): Promise<void> {
    const secrets = pipelineSecrets(pipeline);
    const collectors = this.ctx.caches.collectors.list();
    const role = exportSecretRole(pipeline, secrets);
    const binding = exportSecretRoleBinding(pipeline, collectors);
    const digest = secrets.length === 0 ? '' : stableJson([role.rules, binding.subjects]);
    if (this.grants.get(key) === digest) return;
    if (secrets.length === 0) {
      await this.ctx.client.delete(binding);
      await this.ctx.client.delete(role);
    } else {
      await this.ctx.client.apply(role);
      await this.ctx.client.apply(binding);
    }
    this.grants.set(key, digest);
  }

  private cache() {
    switch (this.kind) {
      case 'Tracepoint': return this.ctx.caches.tracepoints;
      case 'DataRetention': return this.ctx.caches.dataRetentions;
      case 'ExportPipeline': return this.ctx.caches.exportPipelines;
    }
  }
}

/** The export fields of a written status, in the shape `wanted` has (for "did anything change"). */
function pickExportStatus(status: Record<string, unknown> | undefined, wanted: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.keys(wanted).filter((k) => status?.[k] !== undefined).map((k) => [k, status![k]]));
}

/** A condition without its transition time, for "did anything change". */
function strip(c: Condition): Omit<Condition, 'lastTransitionTime'> {
  const { lastTransitionTime: _t, ...rest } = c;
  return rest;
}
