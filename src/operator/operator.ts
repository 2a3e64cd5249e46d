// Wires the operator: informers → one key-deduplicating work queue →
// reconcilers, behind optional Lease leader election, with a health endpoint.
//
// Contracts:
// - Queue keys are "<Kind>:<cache key>" (Collector:default, Tracepoint:ns/name).
// - Any change of a plan input (Tracepoint, DataRetention, ExportPipeline)
//   other than a status-only update invalidates the shared compilation and
//   queues that input. The compilation runs once per burst of changes
//   (PLAN_DEBOUNCE_MS quiet period) and re-queues what it changed: every
//   Collector when the shared plan changed, and each plan input whose verdict
//   changed (verdicts such as Conflict are relations between objects).
// - Every API client shares one keep-alive connection pool (shareConnections).
// - Informers restart themselves with backoff on any error (API server
//   restarts); nothing here calls process.exit.
// - With leader election, controllers run only while leading; on losing the
//   lease they stop and the replica campaigns again.
import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import type { KubernetesListObject, KubernetesObject, V1Lease, V1Node } from '@kubernetes/client-node';
import { AppsV1Api, CoordinationV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { pino, type Logger } from 'pino';
import { CollectorController } from './controllers/collector.controller.ts';
import { PlanCompilation, type Caches, type ControllerContext } from './controllers/controller-context.ts';
import { PlanInputController, type PlanInputKind } from './controllers/plan-input.controller.ts';
import { COLLECTOR_LABEL, MANAGED_BY, MANAGED_BY_LABEL } from './manifests/agent.manifests.ts';
import { AGENT_LEASE_PREFIX, EXPORT_STATUS_ANNOTATION, parseAgentExportStatus } from '../common/agent-plan.ts';
import type { Collector, DataRetention, ExportPipeline, Tracepoint } from './resources.ts';
import { GROUP, KINDS, VERSION, objectKey } from './resources.ts';
import { apiErrorCode } from './runtime/api-errors.ts';
import { ResilientInformer } from './runtime/informer.ts';
import { loadKubeConfig } from '../common/kube-config.ts';
import { KubeClient } from './runtime/kube-client.ts';
import { LeaderElector } from './runtime/leader-election.ts';
import { WorkQueue } from './runtime/work-queue.ts';

export const DEFAULTS = Object.freeze({
  leaseNamespace: 'wisp-system',
  leaseName: 'wisp-operator',
  healthListen: '127.0.0.1:8081',
  concurrency: 8,
  leaseDurationMs: 15_000,
  planDebounceMs: 200,
  planMaxDelayMs: 1_000,
});

/** How long stopping waits for Events still being recorded (best effort). */
const EVENT_FLUSH_TIMEOUT_MS = 5_000;

export interface OperatorOptions {
  /** Path of a kubeconfig; absent: in-cluster, else the default loading rules. */
  kubeconfig?: string;
  context?: string;
  leaderElect?: boolean;
  leaseNamespace?: string;
  leaseName?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** host:port, or '' for no health endpoint. */
  healthListen?: string;
  identity?: string;
  concurrency?: number;
  logger?: Logger;
}

export type OperatorState = 'starting' | 'standby' | 'leading' | 'stopped';


export class Operator {
  readonly identity: string;
  private readonly options: OperatorOptions;
  private readonly log: Logger;
  private readonly kc: KubeConfig;
  private readonly client: KubeClient;
  private elector: LeaderElector | undefined;
  private controllers: Controllers | undefined;
  private server: Server | undefined;
  private stateValue: OperatorState = 'starting';
  private transition: Promise<void> = Promise.resolve();

  constructor(options: OperatorOptions) {
    this.options = options;
    this.identity = options.identity ?? `${hostname()}_${process.pid}`;
    this.log = options.logger ?? pino({ name: 'wisp-operator' }, pino.destination(2));
    this.kc = loadKubeConfig(options);
    this.client = new KubeClient({ kubeConfig: this.kc, instance: this.identity, onError: (error) => this.log.warn({ err: error }, 'event not recorded') });
  }

  get state(): OperatorState { return this.stateValue; }

  /** Starts (and returns); controllers run now, or once this replica leads. */
  async start(): Promise<void> {
    await this.startHealth();
    if (!this.options.leaderElect) {
      await this.startControllers();
      return;
    }
    this.stateValue = 'standby';
    this.elector = new LeaderElector({
      api: this.kc.makeApiClient(CoordinationV1Api),
      namespace: this.options.leaseNamespace ?? DEFAULTS.leaseNamespace,
      name: this.options.leaseName ?? DEFAULTS.leaseName,
      identity: this.identity,
      leaseDurationMs: this.options.leaseDurationMs ?? DEFAULTS.leaseDurationMs,
      ...(this.options.renewDeadlineMs !== undefined && { renewDeadlineMs: this.options.renewDeadlineMs }),
      ...(this.options.retryPeriodMs !== undefined && { retryPeriodMs: this.options.retryPeriodMs }),
      onStartedLeading: () => { this.log.info({ identity: this.identity }, 'started leading'); this.serially(() => this.startControllers()); },
      onStoppedLeading: () => { this.log.warn({ identity: this.identity }, 'stopped leading'); this.serially(() => this.stopControllers('standby')); },
      onError: (error) => this.log.warn({ err: error }, 'leader election'),
    });
    this.elector.start();
  }

  async stop(): Promise<void> {
    await this.elector?.stop();
    await this.serially(() => this.stopControllers('stopped'));
    this.stateValue = 'stopped';
    await new Promise<void>((resolve) => { if (this.server) this.server.close(() => resolve()); else resolve(); });
  }

  /** Resolves when the controllers' queue is empty (tests). */
  async idle(): Promise<void> {
    await this.controllers?.idle();
    await this.client.flushEvents();
  }

  private serially(step: () => Promise<void>): Promise<void> {
    this.transition = this.transition.then(step).catch((error: unknown) => this.log.error({ err: error }, 'operator transition'));
    return this.transition;
  }

  private async startControllers(): Promise<void> {
    if (this.controllers) return;
    this.controllers = new Controllers(this.kc, this.client, this.log, this.options.concurrency ?? DEFAULTS.concurrency);
    this.stateValue = 'leading';
    await this.controllers.start();
  }

  private async stopControllers(next: OperatorState): Promise<void> {
    const controllers = this.controllers;
    this.controllers = undefined;
    if (this.stateValue !== 'stopped') this.stateValue = next;
    await controllers?.stop();
    await this.client.flushEvents(EVENT_FLUSH_TIMEOUT_MS);
  }

  private async startHealth(): Promise<void> {
    const listen = this.options.healthListen ?? DEFAULTS.healthListen;
    if (!listen) return;
    const colon = listen.lastIndexOf(':');
    const host = listen.slice(0, colon);
    const port = Number(listen.slice(colon + 1));
    if (colon < 0 || !Number.isInteger(port)) throw new Error(`parse health address ${JSON.stringify(listen)}: want host:port`);
    this.server = createServer((req, res) => {
      const synced = this.controllers?.synced ?? false;
      // healthz: the process serves; readyz: a leader with synced caches, or a standby replica.
      const ok = req.url === '/healthz' || (req.url === '/readyz' && (this.stateValue === 'standby' || (this.stateValue === 'leading' && synced)));
      res.writeHead(ok ? 200 : req.url === '/healthz' || req.url === '/readyz' ? 503 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ state: this.stateValue, synced, identity: this.identity }));
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', (cause) => reject(new Error(`listen for health checks on ${listen}`, { cause })));
      this.server!.listen(port, host, () => resolve());
    });
  }
}

/** Informers, queue and reconcilers: everything that runs only on the leader. */
class Controllers {
  readonly queue: WorkQueue;
  private readonly informers: Array<ResilientInformer<KubernetesObject>> = [];
  private readonly caches: Caches;
  private readonly plan: PlanCompilation;
  private readonly log: Logger;
  private readonly collector: CollectorController;
  private readonly inputs: Record<PlanInputKind, PlanInputController>;
  synced = false;

  constructor(kc: KubeConfig, client: KubeClient, log: Logger, concurrency: number) {
    this.log = log;
    const core = kc.makeApiClient(CoreV1Api);
    const custom = kc.makeApiClient(CustomObjectsApi);
    const coordination = kc.makeApiClient(CoordinationV1Api);
    const apps = kc.makeApiClient(AppsV1Api);
    this.queue = new WorkQueue({
      concurrency,
      reconcile: (key) => this.dispatch(key),
      onError: (key, error, retryInMs) => log.warn({ key, err: error, retryInMs }, 'reconcile failed; retrying'),
    });
    // What the compiler reads of an input besides its spec (spec changes bump the generation).
    const seen = new Map<string, string>();
    const onInput = (kind: string) => (object: KubernetesObject, verb: 'add' | 'update' | 'delete') => {
      const key = `${kind}:${objectKey(object.metadata ?? {})}`;
      const generation = object.metadata?.generation;
      const fingerprint = `${generation ?? Math.random()}/${String(object.metadata?.deletionTimestamp ?? '')}`;
      const changed = verb !== 'update' || generation === undefined || seen.get(key) !== fingerprint;
      if (verb === 'delete') seen.delete(key); else seen.set(key, fingerprint);
      // A status-only update (e.g. our own status write) changes no verdict.
      if (changed) this.plan.invalidate();
      this.queue.add(key);
    };
    const crd = <T extends KubernetesObject>(plural: string, namespaced: boolean, onChange: (o: T, verb: 'add' | 'update' | 'delete') => void) => this.informer<T>({
      kubeConfig: kc,
      path: `/apis/${GROUP}/${VERSION}/${plural}`,
      list: () => (namespaced
        ? custom.listCustomObjectForAllNamespaces({ group: GROUP, version: VERSION, resourcePlural: plural })
        : custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural })) as Promise<KubernetesListObject<T>>,
      onChange,
    });
    const collectors = crd<Collector>(KINDS.Collector.plural, false, (o) => this.queue.add(`Collector:${o.metadata.name ?? ''}`));
    const tracepoints = crd<Tracepoint>(KINDS.Tracepoint.plural, true, onInput('Tracepoint'));
    const dataRetentions = crd<DataRetention>(KINDS.DataRetention.plural, false, onInput('DataRetention'));
    const exportPipelines = crd<ExportPipeline>(KINDS.ExportPipeline.plural, true, onInput('ExportPipeline'));
    const nodes = this.informer<V1Node>({ kubeConfig: kc, path: '/api/v1/nodes', list: () => core.listNode(), onChange: () => this.enqueueCollectors() });
    const leases = this.informer<V1Lease>({
      kubeConfig: kc,
      path: '/apis/coordination.k8s.io/v1/leases',
      list: () => coordination.listLeaseForAllNamespaces(),
      onChange: (lease) => {
        if (!lease.metadata?.name?.startsWith(AGENT_LEASE_PREFIX)) return;
        this.enqueueCollectors();
        // Agents report export counters here: the pipelines they name get their status rewritten.
        for (const s of parseAgentExportStatus(lease.metadata.annotations?.[EXPORT_STATUS_ANNOTATION])) this.queue.add(`ExportPipeline:${s.key}`);
      },
    });
    // Owned objects: a change (e.g. someone deletes the DaemonSet) re-queues its Collector.
    const managed = `${MANAGED_BY_LABEL}=${MANAGED_BY}`;
    const toOwner = (object: KubernetesObject) => {
      const name = object.metadata?.labels?.[COLLECTOR_LABEL];
      if (name) this.queue.add(`Collector:${name}`);
    };
    this.informer({ kubeConfig: kc, path: '/apis/apps/v1/daemonsets', labelSelector: managed, list: () => apps.listDaemonSetForAllNamespaces({ labelSelector: managed }), onChange: toOwner });
    this.informer({ kubeConfig: kc, path: '/api/v1/configmaps', labelSelector: managed, list: () => core.listConfigMapForAllNamespaces({ labelSelector: managed }), onChange: toOwner });
    this.caches = { collectors, tracepoints, dataRetentions, exportPipelines, nodes, leases };
    this.plan = new PlanCompilation(this.caches, async (namespace, name) => {
      try { await core.readNamespacedSecret({ namespace, name }); return true; } catch (error) {
        if (apiErrorCode(error) === 404) return false;
        throw new Error(`read Secret ${namespace}/${name}`, { cause: error });
      }
    }, (change) => {
      for (const key of change.inputs) this.queue.add(key);
      if (change.plan) this.enqueueCollectors();
    }, {
      debounceMs: DEFAULTS.planDebounceMs,
      maxDelayMs: DEFAULTS.planMaxDelayMs,
      onError: (error) => log.warn({ err: error }, 'plan compilation failed; retrying'),
    });
    const ctx: ControllerContext = { caches: this.caches, client, log, plan: this.plan };
    this.collector = new CollectorController(ctx);
    this.inputs = {
      Tracepoint: new PlanInputController(ctx, 'Tracepoint'),
      DataRetention: new PlanInputController(ctx, 'DataRetention'),
      ExportPipeline: new PlanInputController(ctx, 'ExportPipeline'),
    };
  }

  async start(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.start()));
    this.synced = true;
    this.log.info({ informers: this.informers.length }, 'caches synced');
    this.enqueueAll();
  }

  /** Resolves when no reconcile waits or runs and no compilation is due (it could queue more). */
  async idle(): Promise<void> {
    do {
      await this.queue.idle();
      await this.plan.settled();
    } while (this.queue.length > 0);
  }

  async stop(): Promise<void> {
    this.plan.close();
    await Promise.all(this.informers.map((i) => i.stop()));
    await this.queue.shutdown();
  }

  private informer<T extends KubernetesObject>(options: Omit<ConstructorParameters<typeof ResilientInformer<T>>[0], 'onError' | 'onChange'> & { onChange: (o: T, verb: 'add' | 'update' | 'delete') => void }): ResilientInformer<T> {
    const informer = new ResilientInformer<T>({
      ...options,
      onChange: (object, verb) => { if (this.synced) options.onChange(object, verb); },
      onError: (path, error, retryInMs) => this.log.warn({ path, err: error, retryInMs }, 'watch failed; re-listing'),
    });
    this.informers.push(informer as unknown as ResilientInformer<KubernetesObject>);
    return informer;
  }

  private enqueueCollectors(): void {
    for (const c of this.caches.collectors.list()) this.queue.add(`Collector:${c.metadata.name ?? ''}`);
  }

  private enqueueAll(): void {
    this.enqueueCollectors();
    for (const o of this.caches.tracepoints.list()) this.queue.add(`Tracepoint:${objectKey(o.metadata)}`);
    for (const o of this.caches.dataRetentions.list()) this.queue.add(`DataRetention:${objectKey(o.metadata)}`);
    for (const o of this.caches.exportPipelines.list()) this.queue.add(`ExportPipeline:${objectKey(o.metadata)}`);
  }

  private async dispatch(key: string): Promise<{ requeueAfterMs?: number }> {
    const colon = key.indexOf(':');
    const kind = key.slice(0, colon);
    const rest = key.slice(colon + 1);
    switch (kind) {
      case 'Collector': return this.collector.reconcile(rest);
      case 'Tracepoint': case 'DataRetention': case 'ExportPipeline': return this.inputs[kind].reconcile(rest);
      default: this.log.error({ key }, 'unknown queue key'); return {};
    }
  }
}
