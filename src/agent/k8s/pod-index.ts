// What an agent knows of Kubernetes objects, kept small: pods of its node
// and every EndpointSlice, each reduced to the fields look-ups need (full
// objects would cost kilobytes each). Deleted pods are kept for a while so
// rows of a pod that just went away still resolve.
import type { V1EndpointSlice, V1Pod } from '@kubernetes/client-node';

export interface PodInfo {
  readonly uid: string;
  readonly name: string;
  readonly namespace: string;
  readonly nodeName: string;
  readonly ip: string;
  /** Container id (runtime prefix dropped) → container name. */
  readonly containers: ReadonlyMap<string, string>;
  /** Set when the pod was deleted (ms since epoch); look-ups still answer until it expires. */
  deletedAtMs?: number;
}

export interface ServiceInfo {
  /** The Service's UID (the slices' owner), or "namespace/name" when no owner reference names it. */
  readonly id: string;
  readonly name: string;
  readonly namespace: string;
}

/** A pod known only as an endpoint's target (it may run on another node). */
export interface EndpointPod {
  /** "namespace/name". */
  readonly key: string;
  readonly uid: string;
}

interface SliceInfo {
  readonly service: ServiceInfo;
  /** Pods the slice's endpoints point to. */
  readonly pods: readonly EndpointPod[];
  /** Endpoint address → the pod behind it ('' key when the endpoint names no pod). */
  readonly addresses: ReadonlyMap<string, EndpointPod | undefined>;
}

export const POD_INDEX_DEFAULTS = Object.freeze({
  /** How long a deleted pod still resolves. */
  deletedRetentionMs: 10 * 60_000,
});

/** "containerd://abc…" → "abc…". */
export function stripRuntime(containerId: string): string {
  const at = containerId.indexOf('://');
  return at < 0 ? containerId : containerId.slice(at + 3);
}

export function projectPod(pod: V1Pod): PodInfo | undefined {
  const uid = pod.metadata?.uid;
  const name = pod.metadata?.name;
  if (!uid || !name) return undefined;
  const containers = new Map<string, string>();
  const status = pod.status;
  for (const list of [status?.containerStatuses, status?.initContainerStatuses, status?.ephemeralContainerStatuses]) {
    for (const container of list ?? []) {
      if (container.containerID) containers.set(stripRuntime(container.containerID), container.name);
    }
  }
  return { uid, name, namespace: pod.metadata?.namespace ?? '', nodeName: pod.spec?.nodeName ?? '', ip: status?.podIP ?? '', containers };
}

function projectSlice(slice: V1EndpointSlice): SliceInfo | undefined {
  const namespace = slice.metadata?.namespace ?? '';
  const name = slice.metadata?.labels?.['kubernetes.io/service-name'];
  if (!name) return undefined;
  const owner = slice.metadata?.ownerReferences?.find((o) => o.kind === 'Service' && o.name === name);
  const pods: EndpointPod[] = [];
  const addresses = new Map<string, EndpointPod | undefined>();
  for (const endpoint of slice.endpoints ?? []) {
    const target = endpoint.targetRef;
    const pod = target?.kind === 'Pod' && target.name ? { key: `${target.namespace ?? namespace}/${target.name}`, uid: target.uid ?? '' } : undefined;
    if (pod) pods.push(pod);
    for (const address of endpoint.addresses) addresses.set(address, pod);
  }
  return { service: { id: owner?.uid ?? `${namespace}/${name}`, name, namespace }, pods, addresses };
}

/** Indexes over pods and slices; every look-up is a map hit. */
export class PodIndex {
  private readonly podsByUid = new Map<string, PodInfo>();
  private readonly podsByName = new Map<string, PodInfo>();
  private readonly podsByContainer = new Map<string, PodInfo>();
  private readonly podsByIp = new Map<string, PodInfo>();
  private readonly slices = new Map<string, SliceInfo>();
  /** Derived from slices, rebuilt lazily after a slice change. */
  private servicesByPod = new Map<string, ServiceInfo[]>();
  private servicesByIp = new Map<string, ServiceInfo>();
  private servicesById = new Map<string, ServiceInfo>();
  private endpointPodsByIp = new Map<string, EndpointPod>();
  private slicesDirty = false;
  private readonly nowMs: () => number;

  constructor(nowMs: () => number = Date.now) {
    this.nowMs = nowMs;
  }

  get podCount(): number {
    return this.podsByUid.size;
  }

  upsertPod(pod: V1Pod): void {
    const info = projectPod(pod);
    if (!info) return;
    this.removePod(info.uid);
    this.podsByUid.set(info.uid, info);
    this.podsByName.set(`${info.namespace}/${info.name}`, info);
    for (const id of info.containers.keys()) this.podsByContainer.set(id, info);
    if (info.ip) this.podsByIp.set(info.ip, info);
  }

  /** Marks a pod deleted; it keeps resolving until expire() drops it. */
  deletePod(pod: V1Pod): void {
    const info = pod.metadata?.uid ? this.podsByUid.get(pod.metadata.uid) : undefined;
    if (info) info.deletedAtMs = this.nowMs();
  }

  /** Replaces the pod set after a re-list (pods missing from it count as deleted). */
  resyncPods(pods: readonly V1Pod[]): void {
    const seen = new Set<string>();
    for (const pod of pods) {
      this.upsertPod(pod);
      if (pod.metadata?.uid) seen.add(pod.metadata.uid);
    }
    for (const [uid, info] of this.podsByUid) if (!seen.has(uid) && info.deletedAtMs === undefined) info.deletedAtMs = this.nowMs();
  }

  upsertSlice(slice: V1EndpointSlice): void {
    const key = slice.metadata?.uid;
    const info = projectSlice(slice);
    if (!key) return;
    if (info) this.slices.set(key, info);
    else this.slices.delete(key);
    this.slicesDirty = true;
  }

  deleteSlice(slice: V1EndpointSlice): void {
    if (slice.metadata?.uid && this.slices.delete(slice.metadata.uid)) this.slicesDirty = true;
  }

  resyncSlices(slices: readonly V1EndpointSlice[]): void {
    this.slices.clear();
    for (const slice of slices) this.upsertSlice(slice);
    this.slicesDirty = true;
  }

  /** Drops pods deleted longer ago than the retention. */
  expire(): void {
    const cutoff = this.nowMs() - POD_INDEX_DEFAULTS.deletedRetentionMs;
    for (const [uid, info] of this.podsByUid) if (info.deletedAtMs !== undefined && info.deletedAtMs < cutoff) this.removePod(uid);
  }

  podByUid(uid: string): PodInfo | undefined {
    return this.podsByUid.get(uid);
  }

  /** `key` is "namespace/name". */
  podByName(key: string): PodInfo | undefined {
    return this.podsByName.get(key);
  }

  podByContainer(containerId: string): PodInfo | undefined {
    return this.podsByContainer.get(containerId);
  }

  podByIp(ip: string): PodInfo | undefined {
    return this.podsByIp.get(ip);
  }

  servicesOfPod(pod: PodInfo): readonly ServiceInfo[] {
    this.rebuildServices();
    return this.servicesByPod.get(`${pod.namespace}/${pod.name}`) ?? [];
  }

  serviceByIp(ip: string): ServiceInfo | undefined {
    this.rebuildServices();
    return this.servicesByIp.get(ip);
  }

  /** The pod behind an endpoint address, on any node. */
  endpointPodByIp(ip: string): EndpointPod | undefined {
    this.rebuildServices();
    return this.endpointPodsByIp.get(ip);
  }

  serviceById(id: string): ServiceInfo | undefined {
    this.rebuildServices();
    return this.servicesById.get(id);
  }

  private rebuildServices(): void {
    if (!this.slicesDirty) return;
    this.slicesDirty = false;
    const byPod = new Map<string, ServiceInfo[]>();
    const byIp = new Map<string, ServiceInfo>();
    const byId = new Map<string, ServiceInfo>();
    const podsByIp = new Map<string, EndpointPod>();
    for (const slice of this.slices.values()) {
      byId.set(slice.service.id, slice.service);
      for (const pod of slice.pods) {
        const list = byPod.get(pod.key) ?? [];
        if (!list.some((s) => s.id === slice.service.id)) list.push(slice.service);
        byPod.set(pod.key, list);
      }
      for (const [address, pod] of slice.addresses) {
        byIp.set(address, slice.service);
        if (pod) podsByIp.set(address, pod);
      }
    }
    this.servicesByPod = byPod;
    this.servicesByIp = byIp;
    this.servicesById = byId;
    this.endpointPodsByIp = podsByIp;
  }

  private removePod(uid: string): void {
    const old = this.podsByUid.get(uid);
    if (!old) return;
    this.podsByUid.delete(uid);
    const nameKey = `${old.namespace}/${old.name}`;
    if (this.podsByName.get(nameKey) === old) this.podsByName.delete(nameKey);
    for (const id of old.containers.keys()) if (this.podsByContainer.get(id) === old) this.podsByContainer.delete(id);
    if (old.ip && this.podsByIp.get(old.ip) === old) this.podsByIp.delete(old.ip);
  }
}
