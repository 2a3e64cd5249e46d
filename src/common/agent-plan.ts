// The contract between the operator and the agents in a cluster.
//
// Operator → agents: ConfigMap PLAN_CONFIGMAP_NAME in the Collector's
// spec.namespace, key PLAN_KEY holding the AgentPlan as JSON, annotation
// PLAN_VERSION_ANNOTATION = planVersion(plan) (also inside the plan).
//
// Agents → operator: one coordination.k8s.io/v1 Lease per node,
// agentLeaseName(nodeName), in the same namespace, with annotations
// PLAN_VERSION_ANNOTATION (the version the agent has applied) and
// HEALTH_ANNOTATION (JSON AgentHealth). spec.renewTime is the heartbeat: a
// Lease not renewed within its leaseDurationSeconds counts as not ready.
// Agents should write spec.holderIdentity = nodeName.
import { createHash } from 'node:crypto';

export const PLAN_CONFIGMAP_NAME = 'wisp-agent-plan';
export const PLAN_KEY = 'plan.json';
export const PLAN_VERSION_ANNOTATION = 'wisp.dev/plan-version';
export const HEALTH_ANNOTATION = 'wisp.dev/health';
/** JSON AgentExportStatus[]: the agent's counters per ExportPipeline, summed by the operator into its status. */
export const EXPORT_STATUS_ANNOTATION = 'wisp.dev/export-status';
/** host:port where the agent serves its query API, for the cluster query endpoint's fan-out. */
export const QUERY_ADDRESS_ANNOTATION = 'wisp.dev/query-address';
export const AGENT_LEASE_PREFIX = 'wisp-agent-';
/** Label on every agent Lease (lets the operator watch only those). */
export const AGENT_LEASE_LABEL = 'wisp.dev/agent-lease';

export function agentLeaseName(nodeName: string): string {
  return `${AGENT_LEASE_PREFIX}${nodeName}`;
}

/** What an agent reports in its Lease's HEALTH_ANNOTATION. */
export interface AgentHealth {
  ready: boolean;
  /** CamelCase, e.g. "Running", "PlanInvalid", "AttachFailed". */
  reason: string;
  message: string;
  /** RFC 3339: when the agent applied its current plan. */
  appliedAt?: string;
}

/** Parses a health annotation; undefined when absent or malformed. */
export function parseAgentHealth(text: string | undefined): AgentHealth | undefined {
  if (!text) return undefined;
  try {
    const value = JSON.parse(text) as Partial<AgentHealth>;
    if (typeof value !== 'object' || value === null || typeof value.ready !== 'boolean') return undefined;
    return {
      ready: value.ready,
      reason: typeof value.reason === 'string' ? value.reason : '',
      message: typeof value.message === 'string' ? value.message : '',
      ...(typeof value.appliedAt === 'string' && { appliedAt: value.appliedAt }),
    };
  } catch {
    return undefined;
  }
}

/** One pipeline's counters on one agent (totals since the agent started), in EXPORT_STATUS_ANNOTATION. */
export interface AgentExportStatus {
  /** PlanExport.key: "namespace/name". */
  key: string;
  rowsRead: number;
  exported: number;
  dropped: Record<string, number>;
  queued: number;
  /** RFC 3339. */
  lastSuccessTime?: string;
  lastError?: string;
  lastErrorTime?: string;
  /** CamelCase: Unreachable, TLSError, Rejected, Throttled, ServerError, Timeout, SecretNotFound, InvalidSource, ScriptFailed, … */
  lastErrorReason?: string;
}

/** Parses an export-status annotation; malformed entries are skipped, a malformed document is []. */
export function parseAgentExportStatus(text: string | undefined): AgentExportStatus[] {
  if (!text) return [];
  try {
    const value = JSON.parse(text) as unknown;
    if (!Array.isArray(value)) return [];
    return value.filter((e): e is AgentExportStatus => typeof e === 'object' && e !== null && typeof (e as AgentExportStatus).key === 'string'
      && typeof (e as AgentExportStatus).exported === 'number' && typeof (e as AgentExportStatus).dropped === 'object');
  } catch {
    return [];
  }
}

export interface PlanTable {
  name: string;
  maxBytes?: number;
  maxAgeMs?: number;
  /** "DataRetention/<name>" that set it. */
  from: string;
}

export interface PlanRollup {
  name: string;
  from: string;
  intervalMs: number;
  groupBy: string[];
  aggregates: Record<string, string>;
  retainMs: number;
  /** Absent: the agent's default share of its table store. */
  maxBytes?: number;
  owner: string;
}

export interface PlanTracepoint {
  /** "namespace/name" of the Tracepoint. */
  key: string;
  namespace: string;
  selector: { matchLabels: Record<string, string>; matchExpressions: Array<{ key: string; operator: string; values: string[] }> };
  container?: string;
  process?: string;
  probes: Array<{
    function: string;
    args: Array<{ name: string; expr: string }>;
    returnValues: Array<{ name: string; expr: string }>;
    latency: boolean;
  }>;
  table: string;
  ttlMs?: number;
}

export interface PlanExport {
  key: string;
  source: {
    preset?: string; table?: string; filter?: string; script?: string; columns?: string[];
    /** Script or table sources: column → OTel attribute name (only these columns are exported). */
    attributes?: Record<string, string>;
    /** Script sources: the column that names each span (default: the output name). */
    nameColumn?: string;
  };
  intervalMs: number;
  destination:
    | { otlp: {
      endpoint: string; protocol: string; insecure: boolean; headersSecret?: { namespace: string; name: string };
      /** Secret keys ca.crt, tls.crt, tls.key (each optional). */
      tls?: { secret?: { namespace: string; name: string }; serverName?: string; insecureSkipVerify?: boolean };
      compression?: string; timeoutMs?: number;
    } }
    | { prometheus: {
      /** Script sources: gauges are named <metricPrefix>_<column> (default wisp_<pipeline name>). */
      metricPrefix?: string;
      /** Script sources: most series served (default 2000). */
      maxSeries?: number;
    } };
  batch: { maxItems?: number; timeoutMs?: number };
  queue: { maxItems?: number; maxBytes?: number };
  retry: { initialIntervalMs?: number; maxIntervalMs?: number; maxElapsedTimeMs?: number };
  overflow: string;
}

export interface AgentPlan {
  /** Schema of this document; bump on incompatible changes. */
  schema: 1;
  /** planVersion() of everything else. */
  version: string;
  collector: {
    name: string;
    memoryLimitBytes?: number;
    tableStorePercent?: number;
    sources?: string[];
    namespaces: { include: string[]; exclude: string[] };
    maxBodyBytes?: number;
    dataAccess?: string;
  };
  tables: PlanTable[];
  rollups: PlanRollup[];
  tracepoints: PlanTracepoint[];
  exports: PlanExport[];
}

/** JSON with object keys sorted, so equal plans hash equally. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  });
}

/** Short content hash of a plan without its version field (16 hex chars of sha256). */
export function planVersion(plan: Omit<AgentPlan, 'version'> | AgentPlan): string {
  const { version: _ignored, ...rest } = plan as AgentPlan;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex').slice(0, 16);
}
