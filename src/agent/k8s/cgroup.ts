// Which pod and container a process belongs to, read from its cgroup path.
//
// Kubelets name pod cgroups after the pod UID and container cgroups after the
// container id, in one of two layouts:
//   cgroupfs: /kubepods/burstable/pod<uid>/<container-id>
//   systemd:  /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_with_underscores>.slice/
//             cri-containerd-<container-id>.scope   (or crio-<id>.scope, docker-<id>.scope)
// The runtime prefix is dropped: pod status names the runtime itself
// ("containerd://<id>"), and ids are unique across runtimes.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Where a cgroup path places a process. Empty strings when the path says nothing. */
export interface CgroupPlacement {
  readonly podUid: string;
  readonly containerId: string;
}

export const NO_PLACEMENT: CgroupPlacement = Object.freeze({ podUid: '', containerId: '' });

const POD_UID = /pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?$/;
const CONTAINER_ID = /^(?:[a-z-]+-)?([0-9a-f]{64})(?:\.scope)?$/;

/** Parses one cgroup path (e.g. "/kubepods/besteffort/pod…/…"). */
export function placementOfPath(path: string): CgroupPlacement {
  let podUid = '';
  let containerId = '';
  for (const segment of path.split('/')) {
    const pod = POD_UID.exec(segment);
    if (pod) {
      podUid = pod[1]!.replaceAll('_', '-');
      continue;
    }
    const container = CONTAINER_ID.exec(segment);
    if (container && podUid) containerId = container[1]!;
  }
  return podUid || containerId ? { podUid, containerId } : NO_PLACEMENT;
}

/**
 * Parses /proc/PID/cgroup ("hierarchy-id:controllers:path" per line): the
 * first line naming a pod wins, so hybrid hosts (v1 controllers plus the v2
 * unified line) resolve through whichever hierarchy the kubelet uses.
 */
export function placementOfProcCgroup(text: string): CgroupPlacement {
  for (const line of text.split('\n')) {
    const path = line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1);
    if (!path) continue;
    const placement = placementOfPath(path);
    if (placement.podUid) return placement;
  }
  return NO_PLACEMENT;
}

/** Reads a live process's placement; NO_PLACEMENT when it is gone or unreadable. */
export function placementOfPid(pid: number, procRoot = '/proc'): CgroupPlacement {
  try {
    return placementOfProcCgroup(readFileSync(join(procRoot, String(pid), 'cgroup'), 'latin1'));
  } catch {
    return NO_PLACEMENT;
  }
}

/**
 * Where the node's cgroup v2 hierarchy is mounted: /sys/fs/cgroup on unified
 * hosts, /sys/fs/cgroup/unified on hybrid ones; in the agent's pod the
 * host's is mounted at /host/sys/fs/cgroup (its own /sys/fs/cgroup shows
 * only the container's subtree).
 */
export function findCgroup2Root(candidates: readonly string[] = [
  '/host/sys/fs/cgroup/unified', '/host/sys/fs/cgroup', '/sys/fs/cgroup/unified', '/sys/fs/cgroup',
]): string | undefined {
  for (const dir of candidates) {
    try {
      if (statSync(join(dir, 'cgroup.controllers')).isFile()) return dir;
    } catch { /* not a v2 mount */ }
  }
  return undefined;
}

export const CGROUP_DEFAULTS = Object.freeze({
  /** Directories one rescan may visit (a node has a few per container). */
  maxScanDirs: 20_000,
  /** Ids remembered (pods × containers on a node, with room for churn). */
  maxEntries: 16_384,
  /** A miss triggers at most one rescan per this interval. */
  minRescanIntervalMs: 1_000,
});

/**
 * cgroup v2 id → placement. The kernel reports bpf_get_current_cgroup_id(),
 * the inode number of the process's cgroup directory; the directory outlives
 * the process (it lives as long as the container), so a process that exited
 * right after its request still resolves. Ids are learnt by walking the
 * kubepods subtrees of the hierarchy, at most once per minRescanIntervalMs.
 */
export class CgroupIds {
  private readonly root: string | undefined;
  private readonly byId = new Map<number, CgroupPlacement>();
  private lastScanMs = -Infinity;
  private readonly nowMs: () => number;
  scans = 0;

  constructor(root: string | undefined = findCgroup2Root(), nowMs: () => number = () => performance.now()) {
    this.root = root;
    this.nowMs = nowMs;
  }

  /** The placement of cgroup `id`, or NO_PLACEMENT (unknown id, or not a pod's cgroup). */
  lookup(id: number): CgroupPlacement {
    if (id <= 1 || !this.root) return NO_PLACEMENT;
    const known = this.byId.get(id);
    if (known) return known;
    if (this.nowMs() - this.lastScanMs < CGROUP_DEFAULTS.minRescanIntervalMs) return NO_PLACEMENT;
    this.rescan();
    return this.byId.get(id) ?? NO_PLACEMENT;
  }

  private rescan(): void {
    this.lastScanMs = this.nowMs();
    this.scans++;
    if (this.byId.size >= CGROUP_DEFAULTS.maxEntries) this.byId.clear();
    const root = this.root!;
    let budget = CGROUP_DEFAULTS.maxScanDirs;
    const visit = (dir: string, relative: string): void => {
      let entries;
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const entry of entries) {
        if (!entry.isDirectory() || budget-- <= 0) continue;
        const path = join(dir, entry.name);
        const rel = `${relative}/${entry.name}`;
        const placement = placementOfPath(rel);
        if (placement.podUid) {
          try {
            this.byId.set(statSync(path).ino, placement);
          } catch { /* removed while scanning */ }
        }
        visit(path, rel);
      }
    };
    // Only the kubelet's subtrees hold pods: kubepods (cgroupfs) and kubepods.slice (systemd).
    for (const top of ['kubepods', 'kubepods.slice']) visit(join(root, top), `/${top}`);
  }
}
