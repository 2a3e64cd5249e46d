// Feeds a PodIndex from the API server: the pods bound to this agent's node
// (field selector, so a node holds only its own pods) and every
// EndpointSlice (services, and the pods behind remote addresses).
import { CoreV1Api, DiscoveryV1Api, type KubeConfig, type V1EndpointSlice, type V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { KubeWatch } from './kube-watch.ts';
import type { PodIndex } from './pod-index.ts';

export interface ContextWatchesOptions {
  kubeConfig: KubeConfig;
  nodeName: string;
  pods: PodIndex;
  logger: Logger;
}

export class ContextWatches {
  private readonly watches: KubeWatch<V1Pod | V1EndpointSlice>[];
  private expireTimer: NodeJS.Timeout | undefined;
  private readonly pods: PodIndex;

  constructor(options: ContextWatchesOptions) {
    const { kubeConfig, nodeName, pods, logger } = options;
    this.pods = pods;
    const core = kubeConfig.makeApiClient(CoreV1Api);
    const discovery = kubeConfig.makeApiClient(DiscoveryV1Api);
    const fieldSelector = `spec.nodeName=${nodeName}`;
    const podWatch = new KubeWatch<V1Pod>({
      kubeConfig, logger, path: '/api/v1/pods', fieldSelector,
      list: () => core.listPodForAllNamespaces({ fieldSelector }),
      onList: (items) => pods.resyncPods(items),
      onEvent: (phase, pod) => (phase === 'DELETED' ? pods.deletePod(pod) : pods.upsertPod(pod)),
    });
    const sliceWatch = new KubeWatch<V1EndpointSlice>({
      kubeConfig, logger, path: '/apis/discovery.k8s.io/v1/endpointslices',
      list: () => discovery.listEndpointSliceForAllNamespaces(),
      onList: (items) => pods.resyncSlices(items),
      onEvent: (phase, slice) => (phase === 'DELETED' ? pods.deleteSlice(slice) : pods.upsertSlice(slice)),
    });
    this.watches = [podWatch as KubeWatch<V1Pod | V1EndpointSlice>, sliceWatch as KubeWatch<V1Pod | V1EndpointSlice>];
  }

  /** Starts both watches; resolves once both listed (or after `syncTimeoutMs`: the agent must not wait on the API server to capture). */
  async start(syncTimeoutMs = 10_000): Promise<void> {
    this.expireTimer = setInterval(() => this.pods.expire(), 30_000);
    this.expireTimer.unref();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, syncTimeoutMs); });
    await Promise.race([Promise.all(this.watches.map((w) => w.start())), timeout]);
    clearTimeout(timer);
  }

  stop(): void {
    clearInterval(this.expireTimer);
    for (const watch of this.watches) watch.stop();
  }
}
