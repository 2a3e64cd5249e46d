import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import type { V1EndpointSlice, V1Pod } from '@kubernetes/client-node';
import { formatUpid, NS_PER_TICK } from '../upid.ts';
import { CgroupIds } from './cgroup.ts';
import { KubeMetadata } from './kube-metadata.ts';
import { PodIndex, POD_INDEX_DEFAULTS } from './pod-index.ts';

const CID = 'cd'.repeat(32);

function pod(name: string, namespace: string, uid: string, ip: string, containerId = CID): V1Pod {
  return {
    metadata: { name, namespace, uid },
    spec: { nodeName: 'node-1', containers: [{ name: 'server' }] },
    status: { podIP: ip, containerStatuses: [{ name: 'server', containerID: `containerd://${containerId}`, image: '', imageID: '', ready: true, restartCount: 0 }] },
  };
}

function slice(service: string, namespace: string, targets: Array<[string, string, string]>): V1EndpointSlice {
  return {
    addressType: 'IPv4',
    metadata: { name: `${service}-abc`, namespace, uid: `slice-${service}`, labels: { 'kubernetes.io/service-name': service }, ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: service, uid: `svc-${service}` }] },
    endpoints: targets.map(([ip, podName, podUid]) => ({ addresses: [ip], targetRef: { kind: 'Pod', name: podName, namespace, uid: podUid } })),
  };
}

/** A CgroupIds that knows one id (no cgroup filesystem needed). */
function cgroupsKnowing(id: number, podUid: string, containerId: string): CgroupIds {
  const ids = new CgroupIds(undefined);
  ids.lookup = (wanted: number) => (wanted === id ? { podUid, containerId } : { podUid: '', containerId: '' });
  return ids;
}

describe('KubeMetadata', () => {
  const startNs = 12_345 * NS_PER_TICK;
  const upid = formatUpid(7, 4321, 12_345);

  function setup(): { metadata: KubeMetadata; pods: PodIndex; now: { ms: number } } {
    const now = { ms: 1_000_000 };
    const pods = new PodIndex(() => now.ms);
    pods.upsertPod(pod('web-1', 'shop', 'uid-web', '10.0.0.5'));
    pods.upsertSlice(slice('web', 'shop', [['10.0.0.5', 'web-1', 'uid-web'], ['10.0.9.9', 'web-2', 'uid-web-2']]));
    const metadata = new KubeMetadata({ pods, cgroups: cgroupsKnowing(99, 'uid-web', CID), nodeName: 'node-1' });
    metadata.observe(4321, startNs, 99);
    return { metadata, pods, now };
  }

  it('resolves a process to its pod, namespace, services, node and container', () => {
    const { metadata } = setup();
    assert.equal(metadata.upid(upid, 'pod_name'), 'shop/web-1');
    assert.equal(metadata.upid(upid, 'pod_id'), 'uid-web');
    assert.equal(metadata.upid(upid, 'namespace'), 'shop');
    assert.equal(metadata.upid(upid, 'service_name'), 'shop/web');
    assert.equal(metadata.upid(upid, 'service_id'), 'svc-web');
    assert.equal(metadata.upid(upid, 'node_name'), 'node-1');
    assert.equal(metadata.upid(upid, 'container_id'), CID);
    assert.equal(metadata.upid(upid, 'container_name'), 'server');
  });

  it('answers empty for processes outside pods and for malformed upids, and names the node', () => {
    const { metadata } = setup();
    const other = formatUpid(7, 1, 1);
    assert.equal(metadata.upid(other, 'namespace'), '');
    assert.equal(metadata.upid(other, 'node_name'), 'node-1');
    assert.equal(metadata.upid('not-a-upid', 'pod_name'), '');
  });

  it('keeps resolving a deleted pod until its retention ends', () => {
    const { metadata, pods, now } = setup();
    pods.deletePod(pod('web-1', 'shop', 'uid-web', '10.0.0.5'));
    assert.equal(metadata.upid(upid, 'pod_name'), 'shop/web-1');
    now.ms += POD_INDEX_DEFAULTS.deletedRetentionMs + 1;
    pods.expire();
    assert.equal(metadata.upid(upid, 'pod_name'), '');
  });

  it('resolves pod ids, pod names, IPs (also of pods on other nodes) and service ids', () => {
    const { metadata } = setup();
    assert.equal(metadata.podId('uid-web', 'pod_name'), 'shop/web-1');
    assert.equal(metadata.podId('uid-web', 'ip'), '10.0.0.5');
    assert.equal(metadata.podName('shop/web-1', 'service_name'), 'shop/web');
    assert.equal(metadata.ip('10.0.0.5', 'pod_name'), 'shop/web-1');
    assert.equal(metadata.ip('10.0.9.9', 'pod_name'), 'shop/web-2', 'a pod behind a service on another node');
    assert.equal(metadata.ip('10.0.9.9', 'pod_id'), 'uid-web-2');
    assert.equal(metadata.ip('10.0.9.9', 'service_name'), 'shop/web');
    assert.equal(metadata.ip('192.0.2.1', 'service_name'), '');
    assert.equal(metadata.serviceId('svc-web', 'service_name'), 'shop/web');
    assert.equal(metadata.serviceId('svc-web', 'namespace'), 'shop');
  });

  it('renders a pod in several services as a JSON array, as Pixie does', () => {
    const { metadata, pods } = setup();
    pods.upsertSlice(slice('web-canary', 'shop', [['10.0.0.5', 'web-1', 'uid-web']]));
    assert.deepEqual(JSON.parse(metadata.upid(upid, 'service_name')), ['shop/web', 'shop/web-canary']);
  });

  it('treats pods missing from a re-list as deleted', () => {
    const { metadata, pods, now } = setup();
    pods.resyncPods([]);
    now.ms += POD_INDEX_DEFAULTS.deletedRetentionMs + 1;
    pods.expire();
    assert.equal(metadata.podId('uid-web', 'pod_name'), '');
  });
});
