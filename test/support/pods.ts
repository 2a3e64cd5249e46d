// Pods without a kubelet: a Pod object in the test bed whose status names a
// container id, and a cgroup v2 directory laid out as a kubelet would
// (kubepods/pod<uid>/<container-id>) that test processes are moved into.
// The agent then resolves them through its real path: the kernel reports the
// process's cgroup id, the agent maps it to the pod uid and container id, and
// its pod watch names the pod.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from './processes.ts';
import { kubectl, kubectlOk } from './testbed.ts';

const CGROUP2 = '/sys/fs/cgroup/unified';

function cgroup2Root(): string {
  for (const dir of [CGROUP2, '/sys/fs/cgroup']) {
    try {
      if (statSync(join(dir, 'cgroup.controllers')).isFile()) return dir;
    } catch { /* next */ }
  }
  throw new Error('no cgroup v2 hierarchy mounted (looked in /sys/fs/cgroup/unified and /sys/fs/cgroup): pod placement needs it');
}

/**
 * Deletes a namespace holding fake pods: no kubelet confirms their
 * termination, so they are removed with grace period 0 first (or the
 * namespace would stay Terminating).
 */
export async function deleteNamespaceWithFakePods(namespace: string, wait: boolean): Promise<void> {
  await kubectl(['-n', namespace, 'delete', 'pods', '--all', '--grace-period=0', '--force', '--ignore-not-found']);
  await kubectl(['delete', 'namespace', namespace, `--wait=${wait}`, '--ignore-not-found', '--timeout=90s']);
}

/** Removes Node objects made by ensureNode (other tests count the cluster's Nodes). */
export async function deleteNodes(names: readonly string[]): Promise<void> {
  await kubectl(['delete', 'node', ...names, '--ignore-not-found', '--wait=false']);
}

/** A Node object, so the pod garbage collector leaves pods bound to it alone. */
export async function ensureNode(name: string): Promise<void> {
  await kubectlOk(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'wisp.dev/test-node': 'true' } } }) });
}

export interface FakePod {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly containerId: string;
  readonly ip: string;
  /** The container's cgroup directory. */
  readonly cgroup: string;
  /** Starts `command` inside the container's cgroup (it moves itself in before exec). */
  spawn(command: string, args: readonly string[], options?: SpawnOptions): ChildProcess;
  /** Removes the cgroup directories (after every process in them has exited). */
  removeCgroup(): void;
}

/**
 * Creates Pod `namespace/name` bound to `node` with one container `container`
 * and a running status naming a fresh container id and `ip`.
 */
export async function createFakePod(options: { namespace: string; name: string; node: string; ip: string; container?: string; labels?: Record<string, string> }): Promise<FakePod> {
  const { namespace, name, node, ip } = options;
  const container = options.container ?? 'main';
  const root = cgroup2Root();
  await kubectlOk(['apply', '-f', '-'], { input: JSON.stringify({
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace, labels: options.labels ?? { app: name } },
    spec: { nodeName: node, automountServiceAccountToken: false, containers: [{ name: container, image: 'wisp-test:none' }] },
  }) });
  const uid = (await kubectlOk(['-n', namespace, 'get', 'pod', name, '-o', 'jsonpath={.metadata.uid}'])).trim();
  const containerId = randomBytes(32).toString('hex');
  const now = new Date().toISOString();
  await kubectlOk(['-n', namespace, 'patch', 'pod', name, '--subresource=status', '--type=merge', '-p', JSON.stringify({
    status: {
      phase: 'Running', podIP: ip, podIPs: [{ ip }], hostIP: '127.0.0.1',
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }],
      containerStatuses: [{
        name: container, containerID: `containerd://${containerId}`, image: 'wisp-test:none', imageID: '', ready: true,
        restartCount: 0, started: true, state: { running: { startedAt: now } },
      }],
    },
  })]);
  await waitFor(`pod ${namespace}/${name} status`, async () =>
    (await kubectlOk(['-n', namespace, 'get', 'pod', name, '-o', 'jsonpath={.status.containerStatuses[0].containerID}'])).includes(containerId) || undefined);
  const podDir = join(root, 'kubepods', 'besteffort', `pod${uid}`);
  const cgroup = join(podDir, containerId);
  mkdirSync(cgroup, { recursive: true });
  return {
    namespace, name, uid, containerId, ip, cgroup,
    spawn(command, args, spawnOptions = {}) {
      // `sh` moves itself into the cgroup, then becomes the command: the command's pid is the one moved.
      return spawn('/bin/sh', ['-c', `echo $$ > '${cgroup}/cgroup.procs' && exec "$@"`, 'sh', command, ...args], spawnOptions);
    },
    removeCgroup() {
      for (const dir of [cgroup, podDir]) {
        try {
          const procs = readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim();
          if (procs) throw new Error(`cgroup ${dir} still holds processes ${procs.replaceAll('\n', ' ')}`);
          rmdirSync(dir);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        }
      }
    },
  };
}

/** An EndpointSlice (with its Service) naming `pods` as endpoints, as the EndpointSlice controller would. */
export async function createService(namespace: string, name: string, port: number, pods: readonly FakePod[]): Promise<void> {
  await kubectlOk(['apply', '-f', '-'], { input: JSON.stringify({
    apiVersion: 'v1', kind: 'Service', metadata: { name, namespace },
    spec: { clusterIP: 'None', ports: [{ name: 'http', port, protocol: 'TCP' }] },
  }) });
  const serviceUid = (await kubectlOk(['-n', namespace, 'get', 'service', name, '-o', 'jsonpath={.metadata.uid}'])).trim();
  await kubectlOk(['apply', '-f', '-'], { input: JSON.stringify({
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
    metadata: {
      name: `${name}-wisp-test`, namespace,
      labels: { 'kubernetes.io/service-name': name, 'endpointslice.kubernetes.io/managed-by': 'wisp-tests' },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name, uid: serviceUid }],
    },
    ports: [{ name: 'http', port, protocol: 'TCP' }],
    endpoints: pods.map((p) => ({ addresses: [p.ip], conditions: { ready: true }, nodeName: undefined, targetRef: { kind: 'Pod', namespace, name: p.name, uid: p.uid } })),
  }) });
}
