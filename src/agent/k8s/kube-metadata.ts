// The agent's MetadataResolver: upid → process → cgroup → container → pod →
// namespace, services, node; plus pod, IP and service look-ups. Processes
// are noted when they open a connection (while they surely exist, with the
// cgroup id the kernel reported), so rows of a process that exited right
// after its request keep their context.
import { hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import type {
  IpProperty, MetadataResolver, PodIdProperty, PodNameProperty, ServiceIdProperty, UpidProperty,
} from '../../query/metadata.ts';
import { NS_PER_TICK, parseUpid } from '../upid.ts';
import { NO_PLACEMENT, placementOfPid, type CgroupIds, type CgroupPlacement } from './cgroup.ts';
import type { PodIndex, PodInfo, ServiceInfo } from './pod-index.ts';

export const PROCESS_DEFAULTS = Object.freeze({
  /** Processes remembered (oldest forgotten first). */
  maxProcesses: 65_536,
  /** Bytes of /proc/PID/cmdline kept. */
  maxCmdlineBytes: 1024,
});

interface ProcessEntry {
  cgroupId: number;
  cmdline: string;
  /** Resolved lazily: undefined until the first look-up that found it. */
  placement: CgroupPlacement | undefined;
}

function processKey(pid: number, startTicks: number): string {
  return `${pid}:${startTicks}`;
}

/** Reads a process's command line with NULs as spaces ('' when gone). */
function readCmdline(pid: number): string {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
    return raw.slice(0, PROCESS_DEFAULTS.maxCmdlineBytes).replaceAll('\0', ' ').trimEnd();
  } catch {
    return '';
  }
}

export interface KubeMetadataOptions {
  /** Pods of this node and EndpointSlices; absent on a standalone host (only process look-ups answer). */
  pods?: PodIndex;
  cgroups: CgroupIds;
  /** The Node this agent serves (upid_to_node_name for processes outside pods). */
  nodeName?: string;
}

export class KubeMetadata implements MetadataResolver {
  private readonly processes = new Map<string, ProcessEntry>();
  private readonly pods: PodIndex | undefined;
  private readonly cgroups: CgroupIds;
  private readonly nodeName: string;
  private readonly host = hostname();

  constructor(options: KubeMetadataOptions) {
    this.pods = options.pods;
    this.cgroups = options.cgroups;
    this.nodeName = options.nodeName ?? this.host;
  }

  get processCount(): number {
    return this.processes.size;
  }

  /** Notes a process (first sight only: one map hit on the hot path after that). */
  observe(pid: number, processStartNs: number, cgroupId: number): void {
    const key = processKey(pid, Math.floor(processStartNs / NS_PER_TICK));
    if (this.processes.has(key)) return;
    if (this.processes.size >= PROCESS_DEFAULTS.maxProcesses) {
      this.processes.delete(this.processes.keys().next().value!);
    }
    const entry: ProcessEntry = { cgroupId, cmdline: readCmdline(pid), placement: undefined };
    // Without a cgroup v2 id (cgroup v1 hosts), read the placement while the process exists.
    if (cgroupId <= 1) entry.placement = placementOfPid(pid);
    this.processes.set(key, entry);
  }

  upid(upid: string, property: UpidProperty): string {
    const parsed = parseUpid(upid);
    if (!parsed) return '';
    const entry = this.processes.get(processKey(parsed.pid, parsed.startTicks));
    if (property === 'cmdline') return entry ? entry.cmdline : readCmdline(parsed.pid);
    if (property === 'hostname') return this.host;
    const placement = this.placementOf(entry, parsed.pid);
    const pod = this.podOf(placement);
    switch (property) {
      case 'pod_id': return pod?.uid ?? placement.podUid;
      case 'pod_name': return pod ? `${pod.namespace}/${pod.name}` : '';
      case 'namespace': return pod?.namespace ?? '';
      case 'node_name': return pod?.nodeName || this.nodeName;
      case 'container_id': return placement.containerId;
      case 'container_name': return pod?.containers.get(placement.containerId) ?? '';
      case 'service_name': return pod ? serviceNames(this.pods!.servicesOfPod(pod)) : '';
      case 'service_id': return pod ? serviceIds(this.pods!.servicesOfPod(pod)) : '';
    }
  }

  /**
   * Namespace of a process ('' outside pods, and always on a standalone
   * host), for the Collector's namespace scoping (src/agent/privacy/). The
   * process entry noted by observe() and its cached placement make this a few
   * map look-ups; callers cache the answer per connection.
   */
  namespaceOfProcess(pid: number, processStartNs: number): string {
    if (!this.pods) return '';
    const entry = this.processes.get(processKey(pid, Math.floor(processStartNs / NS_PER_TICK)));
    return this.podOf(this.placementOf(entry, pid))?.namespace ?? '';
  }

  /** The pod (uid) a live process runs in, '' outside pods: for samplers that start from pids (network_stats). */
  podIdOfPid(pid: number): string {
    const placement = placementOfPid(pid);
    return this.podOf(placement)?.uid ?? placement.podUid;
  }

  podId(podId: string, property: PodIdProperty): string {
    const pod = this.pods?.podByUid(podId);
    return pod ? this.podProperty(pod, property) : '';
  }

  podName(podName: string, property: PodNameProperty): string {
    const pod = this.pods?.podByName(podName);
    if (!pod) return '';
    switch (property) {
      case 'namespace': return pod.namespace;
      case 'service_name': return serviceNames(this.pods!.servicesOfPod(pod));
      case 'pod_id': return pod.uid;
      case 'node_name': return pod.nodeName;
    }
  }

  ip(address: string, property: IpProperty): string {
    if (!this.pods) return '';
    const local = this.pods.podByIp(address);
    const remote = local ? undefined : this.pods.endpointPodByIp(address);
    switch (property) {
      case 'pod_id': return local?.uid ?? remote?.uid ?? '';
      case 'pod_name': return local ? `${local.namespace}/${local.name}` : remote?.key ?? '';
      case 'service_id': return this.serviceOfIp(address, local)?.id ?? '';
      case 'service_name': {
        const service = this.serviceOfIp(address, local);
        return service ? `${service.namespace}/${service.name}` : '';
      }
      case 'hostname': return local ? `${local.namespace}/${local.name}` : remote?.key ?? '';
    }
  }

  serviceId(serviceId: string, property: ServiceIdProperty): string {
    const service = this.pods?.serviceById(serviceId);
    if (!service) return '';
    return property === 'namespace' ? service.namespace : `${service.namespace}/${service.name}`;
  }

  private serviceOfIp(address: string, local: PodInfo | undefined): ServiceInfo | undefined {
    return this.pods!.serviceByIp(address) ?? (local ? this.pods!.servicesOfPod(local)[0] : undefined);
  }

  private podProperty(pod: PodInfo, property: PodIdProperty): string {
    switch (property) {
      case 'pod_name': return `${pod.namespace}/${pod.name}`;
      case 'namespace': return pod.namespace;
      case 'node_name': return pod.nodeName;
      case 'ip': return pod.ip;
      case 'service_name': return serviceNames(this.pods!.servicesOfPod(pod));
      case 'service_id': return serviceIds(this.pods!.servicesOfPod(pod));
    }
  }

  private placementOf(entry: ProcessEntry | undefined, pid: number): CgroupPlacement {
    if (!entry) return placementOfPid(pid);
    if (entry.placement === undefined || entry.placement === NO_PLACEMENT) {
      const found = this.cgroups.lookup(entry.cgroupId);
      if (found !== NO_PLACEMENT) entry.placement = found;
      return found;
    }
    return entry.placement;
  }

  private podOf(placement: CgroupPlacement): PodInfo | undefined {
    if (!this.pods || placement === NO_PLACEMENT) return undefined;
    return (placement.containerId ? this.pods.podByContainer(placement.containerId) : undefined) ?? this.pods.podByUid(placement.podUid);
  }
}

/** Pixie's rendering: one service as "ns/name", several as a JSON array of them. */
function serviceNames(services: readonly ServiceInfo[]): string {
  if (services.length === 0) return '';
  if (services.length === 1) return `${services[0]!.namespace}/${services[0]!.name}`;
  return JSON.stringify(services.map((s) => `${s.namespace}/${s.name}`));
}

function serviceIds(services: readonly ServiceInfo[]): string {
  if (services.length === 0) return '';
  if (services.length === 1) return services[0]!.id;
  return JSON.stringify(services.map((s) => s.id));
}
