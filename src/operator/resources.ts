// The parts of the wisp.dev/v1alpha1 kinds the operator reads, by DESIGN.md §2
// field names. The generated API types in src/operator/api/v1alpha1/ are the
// source of truth; these minimal shapes are structurally compatible with them
// and are meant to be replaced by imports from there.
import type { V1ObjectMeta, V1Toleration, V1LabelSelector } from '@kubernetes/client-node';
import type { Condition } from './runtime/conditions.ts';

export const GROUP = 'wisp.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** kind → plural and scope, for paths and informers. */
export const KINDS = Object.freeze({
  Collector: { kind: 'Collector', plural: 'collectors', namespaced: false },
  Tracepoint: { kind: 'Tracepoint', plural: 'tracepoints', namespaced: true },
  DataRetention: { kind: 'DataRetention', plural: 'dataretentions', namespaced: false },
  ExportPipeline: { kind: 'ExportPipeline', plural: 'exportpipelines', namespaced: true },
} as const);

export interface WispObject<Spec, Status = CommonStatus> {
  apiVersion?: string;
  kind?: string;
  metadata: V1ObjectMeta;
  spec?: Spec;
  status?: Status;
}

export interface CommonStatus {
  conditions?: Condition[];
  observedGeneration?: number;
}

export interface CollectorSpec {
  namespace?: string;
  image?: string;
  imagePullPolicy?: string;
  nodeSelector?: Record<string, string>;
  tolerations?: V1Toleration[];
  memoryLimit?: string;
  tableStorePercent?: number;
  sources?: string[];
  namespaces?: { include?: string[]; exclude?: string[] };
  maxBodyBytes?: number;
  dataAccess?: string;
}

export interface NodeFailure {
  node: string;
  reason: string;
  message?: string;
  since?: string;
}

export interface CollectorStatus extends CommonStatus {
  nodesDesired?: number;
  nodesReady?: number;
  planVersion?: string;
  nodeFailures?: NodeFailure[];
}

export type Collector = WispObject<CollectorSpec, CollectorStatus>;

export interface TracepointSpec {
  target?: { selector?: V1LabelSelector; container?: string; process?: string };
  probes?: Array<{
    function?: string;
    args?: Array<{ name?: string; expr?: string }>;
    returnValues?: Array<{ name?: string; expr?: string }>;
    latency?: boolean;
  }>;
  table?: string;
  ttl?: string;
}
export type Tracepoint = WispObject<TracepointSpec>;

export interface DataRetentionSpec {
  tables?: Array<{ name?: string; maxBytes?: string | number; maxAge?: string }>;
  rollups?: Array<{
    name?: string;
    from?: string;
    interval?: string;
    groupBy?: string[];
    aggregates?: Record<string, string>;
    retain?: string;
    maxBytes?: string | number;
  }>;
}
export type DataRetention = WispObject<DataRetentionSpec>;

export interface ExportPipelineSpec {
  source?: { preset?: string; table?: string; filter?: string; script?: string; columns?: string[]; attributes?: Record<string, string>; nameColumn?: string };
  interval?: string;
  destination?: {
    otlp?: {
      endpoint?: string;
      protocol?: string;
      insecure?: boolean;
      headersFrom?: { secretRef?: { name?: string } };
      tls?: { secretRef?: { name?: string }; serverName?: string; insecureSkipVerify?: boolean };
      compression?: string;
      timeout?: string;
    };
    prometheus?: { path?: string; metricPrefix?: string; maxSeries?: number };
  };
  batch?: { maxItems?: number; timeout?: string };
  queue?: { maxItems?: number; maxBytes?: string | number };
  retry?: { initialInterval?: string; maxInterval?: string; maxElapsedTime?: string };
  overflow?: string;
}
export type ExportPipeline = WispObject<ExportPipelineSpec>;

/** Cache key: "name" for cluster-scoped objects, "namespace/name" otherwise. */
export function objectKey(meta: { name?: string; namespace?: string }): string {
  return meta.namespace ? `${meta.namespace}/${meta.name ?? ''}` : meta.name ?? '';
}

export function splitKey(key: string): { namespace?: string; name: string } {
  const slash = key.indexOf('/');
  return slash < 0 ? { name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}
