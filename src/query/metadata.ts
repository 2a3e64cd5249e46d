// Kubernetes context for queries (df.ctx[...], px.upid_to_pod_name, …) comes
// from a MetadataResolver passed in the execution options: the agent plugs
// in its informer-backed resolver; without one every look-up is '' (pid
// excepted, which the upid itself carries).

/** What a upid (a process) can be resolved to. */
export type UpidProperty = 'pod_id' | 'pod_name' | 'namespace' | 'service_id' | 'service_name' | 'node_name' | 'container_id' | 'container_name' | 'cmdline' | 'hostname';
/** What a pod id (UID) can be resolved to. */
export type PodIdProperty = 'pod_name' | 'namespace' | 'node_name' | 'service_name' | 'service_id' | 'ip';
/** What a pod name ("namespace/name") can be resolved to. */
export type PodNameProperty = 'namespace' | 'service_name' | 'pod_id' | 'node_name';
/** What an IP address can be resolved to. */
export type IpProperty = 'pod_id' | 'service_id' | 'pod_name' | 'service_name' | 'hostname';
/** What a service id (UID) can be resolved to. */
export type ServiceIdProperty = 'service_name' | 'namespace';

/**
 * Look-ups the executor calls once per distinct value of a batch's
 * dictionary (or per row for plain strings); they must be fast and must not
 * throw: an unknown key resolves to ''.
 */
export interface MetadataResolver {
  upid(upid: string, property: UpidProperty): string;
  podId(podId: string, property: PodIdProperty): string;
  podName(podName: string, property: PodNameProperty): string;
  ip(address: string, property: IpProperty): string;
  serviceId(serviceId: string, property: ServiceIdProperty): string;
}

/** Knows nothing: every look-up is ''. */
export const EMPTY_METADATA_RESOLVER: MetadataResolver = Object.freeze({
  upid: () => '',
  podId: () => '',
  podName: () => '',
  ip: () => '',
  serviceId: () => '',
});

/** What kernels may read besides their arguments. */
export interface KernelContext {
  readonly metadata: MetadataResolver;
}

export const DEFAULT_KERNEL_CONTEXT: KernelContext = Object.freeze({ metadata: EMPTY_METADATA_RESOLVER });
