// The operator's writes to the API server: server-side apply under one field
// manager, status through the status subresource, deletes, and events.
//
// Contracts:
// - Every write uses FIELD_MANAGER; apply uses force=true because the
//   operator is the sole owner of the fields it declares (conflicts with a
//   human's kubectl edit resolve to the operator's desired state).
// - applyStatus writes only .status via the status subresource: the
//   operator never writes spec of a wisp CR.
// - Events are best effort: a failed event is reported to onError, never thrown.
//   event() does not wait for the API server: events are sent in the
//   background, at most EVENT_CONCURRENCY at a time, in the order recorded;
//   flushEvents() waits for those recorded so far. Beyond MAX_PENDING_EVENTS
//   waiting, new events are dropped (reported to onError), like client-go's
//   event broadcaster under pressure.
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import {
  CustomObjectsApi, EventsV1Api, KubernetesObjectApi, PatchStrategy, V1MicroTime, setHeaderOptions,
} from '@kubernetes/client-node';
import { GROUP, VERSION } from '../resources.ts';
import { isNotFound } from './api-errors.ts';

export const FIELD_MANAGER = 'wisp-operator';
export const REPORTING_CONTROLLER = 'wisp.dev/operator';

export const EVENT_CONCURRENCY = 4;
export const MAX_PENDING_EVENTS = 4096;

export interface EventInput {
  regarding: { apiVersion: string; kind: string; name: string; namespace?: string; uid?: string };
  type: 'Normal' | 'Warning';
  /** CamelCase. */
  reason: string;
  note: string;
  action: string;
}

export class KubeClient {
  readonly objects: KubernetesObjectApi;
  private readonly custom: CustomObjectsApi;
  private readonly events: EventsV1Api;
  private readonly instance: string;
  private readonly onError: (error: unknown) => void;
  private readonly pendingEvents: EventInput[] = [];
  private eventsInFlight = 0;
  private flushWaiters: Array<() => void> = [];

  constructor(options: { kubeConfig: KubeConfig; instance: string; onError?: (error: unknown) => void }) {
    this.objects = KubernetesObjectApi.makeApiClient(options.kubeConfig);
    this.custom = options.kubeConfig.makeApiClient(CustomObjectsApi);
    this.events = options.kubeConfig.makeApiClient(EventsV1Api);
    this.instance = options.instance;
    this.onError = options.onError ?? (() => {});
  }

  /** Server-side apply of one object (apiVersion, kind, metadata.name[, namespace] required). */
  async apply<T extends KubernetesObject>(object: T): Promise<T> {
    try {
      return await this.objects.patch(object, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
    } catch (cause) {
      throw new Error(`apply ${describe(object)}`, { cause });
    }
  }

  /**
   * Server-side apply of a wisp.dev object's status. `body` is
   * { apiVersion, kind, metadata: { name[, namespace] }, status }.
   */
  async applyStatus(plural: string, body: { metadata: { name?: string; namespace?: string } } & Record<string, unknown>): Promise<void> {
    const name = body.metadata.name ?? '';
    const namespace = body.metadata.namespace;
    const options = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);
    try {
      if (namespace) {
        await this.custom.patchNamespacedCustomObjectStatus({ group: GROUP, version: VERSION, plural, namespace, name, body, fieldManager: FIELD_MANAGER, force: true }, options);
      } else {
        await this.custom.patchClusterCustomObjectStatus({ group: GROUP, version: VERSION, plural, name, body, fieldManager: FIELD_MANAGER, force: true }, options);
      }
    } catch (cause) {
      if (isNotFound(cause)) return; // deleted meanwhile: nothing to report on
      throw new Error(`write status of ${plural}/${namespace ? `${namespace}/` : ''}${name}`, { cause });
    }
  }

  /** Deletes an object; absent is success. */
  async delete(object: KubernetesObject): Promise<void> {
    try {
      await this.objects.delete(object, undefined, undefined, undefined, undefined, 'Background');
    } catch (cause) {
      if (isNotFound(cause)) return;
      throw new Error(`delete ${describe(object)}`, { cause });
    }
  }

  /**
   * Records an events.k8s.io/v1 Event in the background; cluster-scoped
   * objects get theirs in `default`. Never throws, never waits for the API.
   */
  event(input: EventInput): void {
    if (this.pendingEvents.length >= MAX_PENDING_EVENTS) {
      this.onError(new Error(`record event ${input.reason} on ${input.regarding.kind}/${input.regarding.name}: ${MAX_PENDING_EVENTS} events waiting; dropped`));
      return;
    }
    this.pendingEvents.push(input);
    this.pumpEvents();
  }

  /** Resolves when every event recorded so far was sent (or failed), or after timeoutMs. */
  async flushEvents(timeoutMs?: number): Promise<void> {
    if (this.pendingEvents.length === 0 && this.eventsInFlight === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.flushWaiters.push(resolve);
      if (timeoutMs !== undefined) timer = setTimeout(resolve, timeoutMs);
    });
    if (timer) clearTimeout(timer);
  }

  private pumpEvents(): void {
    while (this.eventsInFlight < EVENT_CONCURRENCY && this.pendingEvents.length > 0) {
      const input = this.pendingEvents.shift()!;
      this.eventsInFlight++;
      void this.sendEvent(input).finally(() => {
        this.eventsInFlight--;
        this.pumpEvents();
        if (this.pendingEvents.length === 0 && this.eventsInFlight === 0) {
          const waiters = this.flushWaiters;
          this.flushWaiters = [];
          for (const resolve of waiters) resolve();
        }
      });
    }
  }

  private async sendEvent(input: EventInput): Promise<void> {
    const namespace = input.regarding.namespace || 'default';
    const now = new V1MicroTime();
    try {
      await this.events.createNamespacedEvent({
        namespace,
        body: {
          apiVersion: 'events.k8s.io/v1',
          kind: 'Event',
          // client-go's naming: <object>.<hex time>; generateName with a trailing dot is refused.
          metadata: { name: `${input.regarding.name}.${(Date.now() * 1000 + Math.floor(Math.random() * 1000)).toString(16)}`, namespace },
          eventTime: now,
          reportingController: REPORTING_CONTROLLER,
          reportingInstance: this.instance.slice(0, 128),
          action: input.action,
          reason: input.reason,
          note: input.note.slice(0, 1024),
          type: input.type,
          regarding: {
            apiVersion: input.regarding.apiVersion,
            kind: input.regarding.kind,
            name: input.regarding.name,
            ...(input.regarding.namespace && { namespace: input.regarding.namespace }),
            ...(input.regarding.uid && { uid: input.regarding.uid }),
          },
        },
      });
    } catch (error) {
      this.onError(new Error(`record event ${input.reason} on ${input.regarding.kind}/${input.regarding.name}`, { cause: error }));
    }
  }
}

function describe(object: KubernetesObject): string {
  const ns = object.metadata?.namespace ? `${object.metadata.namespace}/` : '';
  return `${object.kind ?? '?'} ${ns}${object.metadata?.name ?? '?'}`;
}
