// Compiles Tracepoints, DataRetentions and ExportPipelines (plus a Collector's
// own settings) into one AgentPlan, and judges each input object.
//
// Contracts:
// - Pure and deterministic: the same inputs in any order give the same plan
//   and version (inputs are sorted by key; JSON is canonical).
// - An object the operator refuses (verdict ok=false) is left out of the plan
//   entirely; the others still go in. Its verdict says exactly what to fix.
// - DataRetention conflicts (two set the same table or rollup name): the
//   oldest object (creationTimestamp, then name) wins; the others get
//   reason Conflict and are left out.
import type { Collector, DataRetention, ExportPipeline, Tracepoint } from '../resources.ts';
import { objectKey } from '../resources.ts';
import type { AgentPlan, PlanExport, PlanRollup, PlanTable, PlanTracepoint } from '../../common/agent-plan.ts';
import { planVersion } from '../../common/agent-plan.ts';
import { parseDurationMs, parseQuantityBytes } from './units.ts';

export const PRESETS = Object.freeze(['http-spans', 'http-metrics', 'db-spans', 'process-metrics'] as const);
export const OTLP_PROTOCOLS = Object.freeze(['grpc', 'http/protobuf'] as const);
export const OVERFLOW_POLICIES = Object.freeze(['block', 'dropOldest', 'dropNewest'] as const);

export const Reason = Object.freeze({
  Compiled: 'Compiled',
  Conflict: 'Conflict',
  InvalidSelector: 'InvalidSelector',
  InvalidProcessPattern: 'InvalidProcessPattern',
  InvalidSpec: 'InvalidSpec',
  UnknownPreset: 'UnknownPreset',
  InvalidDestination: 'InvalidDestination',
  SecretNotFound: 'SecretNotFound',
} as const);

export interface Verdict {
  kind: 'Tracepoint' | 'DataRetention' | 'ExportPipeline';
  key: string;
  generation?: number;
  ok: boolean;
  reason: string;
  message: string;
}

export interface PlanInputs {
  tracepoints: readonly Tracepoint[];
  dataRetentions: readonly DataRetention[];
  exportPipelines: readonly ExportPipeline[];
  /** Whether Secret namespace/name exists (from the informer cache). */
  secretExists: (namespace: string, name: string) => boolean;
}

export interface CompiledPlan {
  /** Plan parts shared by every Collector; verdicts per input object. */
  tables: PlanTable[];
  rollups: PlanRollup[];
  tracepoints: PlanTracepoint[];
  exports: PlanExport[];
  verdicts: Verdict[];
}

/** Judges and compiles the shared inputs once. */
export function compileInputs(inputs: PlanInputs): CompiledPlan {
  const verdicts: Verdict[] = [];
  const { tables, rollups } = compileRetentions(inputs.dataRetentions, verdicts);
  const tracepoints: PlanTracepoint[] = [];
  for (const tp of sortByKey(inputs.tracepoints)) {
    const result = compileTracepoint(tp);
    verdicts.push(verdict('Tracepoint', tp, result));
    if ('plan' in result) tracepoints.push(result.plan);
  }
  const exports: PlanExport[] = [];
  for (const ep of sortByKey(inputs.exportPipelines)) {
    const result = compileExport(ep, inputs.secretExists);
    verdicts.push(verdict('ExportPipeline', ep, result));
    if ('plan' in result) exports.push(result.plan);
  }
  return { tables, rollups, tracepoints, exports, verdicts };
}

/** The plan one Collector's agents get: its own settings plus the shared parts. */
export function planForCollector(collector: Collector, compiled: CompiledPlan): AgentPlan {
  const spec = collector.spec ?? {};
  const memoryLimitBytes = parseQuantityBytes(spec.memoryLimit);
  const body: Omit<AgentPlan, 'version'> = {
    schema: 1,
    collector: {
      name: collector.metadata.name ?? '',
      ...(memoryLimitBytes !== undefined && { memoryLimitBytes }),
      ...(spec.tableStorePercent !== undefined && { tableStorePercent: spec.tableStorePercent }),
      ...(spec.sources !== undefined && { sources: [...spec.sources] }),
      namespaces: { include: [...(spec.namespaces?.include ?? [])], exclude: [...(spec.namespaces?.exclude ?? [])] },
      ...(spec.maxBodyBytes !== undefined && { maxBodyBytes: spec.maxBodyBytes }),
      ...(spec.dataAccess !== undefined && { dataAccess: spec.dataAccess }),
    },
    tables: compiled.tables,
    rollups: compiled.rollups,
    tracepoints: compiled.tracepoints,
    exports: compiled.exports,
  };
  return { ...body, version: planVersion(body) };
}

type Result<T> = { plan: T } | { reason: string; message: string };

function verdict<T>(kind: Verdict['kind'], object: { metadata: { name?: string; namespace?: string; generation?: number } }, result: Result<T>): Verdict {
  const base = { kind, key: objectKey(object.metadata), ...(object.metadata.generation !== undefined && { generation: object.metadata.generation }) };
  return 'plan' in result
    ? { ...base, ok: true, reason: Reason.Compiled, message: 'compiled into the agent plan' }
    : { ...base, ok: false, reason: result.reason, message: result.message };
}

function sortByKey<T extends { metadata: { name?: string; namespace?: string } }>(items: readonly T[]): T[] {
  return [...items].sort((a, b) => compare(objectKey(a.metadata), objectKey(b.metadata)));
}

function compare(a: string, b: string): number { return a < b ? -1 : a > b ? 1 : 0; }

function age(object: DataRetention): string {
  const ts = object.metadata.creationTimestamp as unknown;
  const time = ts instanceof Date ? ts.toISOString() : typeof ts === 'string' ? new Date(ts).toISOString() : '9999';
  return `${time} ${object.metadata.name ?? ''}`;
}

function compileRetentions(items: readonly DataRetention[], verdicts: Verdict[]): { tables: PlanTable[]; rollups: PlanRollup[] } {
  const byAge = [...items].sort((a, b) => compare(age(a), age(b)));
  const tableOwner = new Map<string, string>();
  const rollupOwner = new Map<string, string>();
  const tables: PlanTable[] = [];
  const rollups: PlanRollup[] = [];
  for (const dr of byAge) {
    const name = dr.metadata.name ?? '';
    const result = compileRetention(dr, tableOwner, rollupOwner);
    verdicts.push(verdict('DataRetention', dr, result));
    if (!('plan' in result)) continue;
    for (const t of result.plan.tables) tableOwner.set(t.name, name);
    for (const r of result.plan.rollups) rollupOwner.set(r.name, name);
    tables.push(...result.plan.tables);
    rollups.push(...result.plan.rollups);
  }
  tables.sort((a, b) => compare(a.name, b.name));
  rollups.sort((a, b) => compare(a.name, b.name));
  return { tables, rollups };
}

function compileRetention(dr: DataRetention, tableOwner: Map<string, string>, rollupOwner: Map<string, string>): Result<{ tables: PlanTable[]; rollups: PlanRollup[] }> {
  const from = `DataRetention/${dr.metadata.name ?? ''}`;
  const tables: PlanTable[] = [];
  const seen = new Set<string>();
  for (const [i, t] of (dr.spec?.tables ?? []).entries()) {
    const field = `spec.tables[${i}]`;
    if (!t.name) return invalid(`${field}.name is required`);
    if (seen.has(t.name)) return invalid(`${field}.name: table ${t.name} is listed twice; keep one entry`);
    seen.add(t.name);
    const owner = tableOwner.get(t.name);
    if (owner) return { reason: Reason.Conflict, message: `table ${t.name} already has a budget from DataRetention ${owner} (older); remove it from one of them` };
    const maxBytes = t.maxBytes === undefined ? undefined : parseQuantityBytes(t.maxBytes);
    if (t.maxBytes !== undefined && maxBytes === undefined) return invalid(`${field}.maxBytes: ${JSON.stringify(t.maxBytes)} is not a quantity such as 256Mi`);
    const maxAgeMs = t.maxAge === undefined ? undefined : parseDurationMs(t.maxAge);
    if (t.maxAge !== undefined && maxAgeMs === undefined) return invalid(`${field}.maxAge: ${JSON.stringify(t.maxAge)} is not a duration such as 30m`);
    tables.push({ name: t.name, ...(maxBytes !== undefined && { maxBytes }), ...(maxAgeMs !== undefined && { maxAgeMs }), from });
  }
  const rollups: PlanRollup[] = [];
  for (const [i, r] of (dr.spec?.rollups ?? []).entries()) {
    const field = `spec.rollups[${i}]`;
    if (!r.name || !r.from) return invalid(`${field}: name and from are required`);
    const owner = rollupOwner.get(r.name);
    if (owner) return { reason: Reason.Conflict, message: `rollup ${r.name} is already defined by DataRetention ${owner} (older); rename one of them` };
    const intervalMs = parseDurationMs(r.interval);
    if (intervalMs === undefined) return invalid(`${field}.interval: ${JSON.stringify(r.interval)} is not a duration such as 1m`);
    const retainMs = parseDurationMs(r.retain);
    if (retainMs === undefined) return invalid(`${field}.retain: ${JSON.stringify(r.retain)} is not a duration such as 7d`);
    const maxBytes = r.maxBytes === undefined ? undefined : parseQuantityBytes(r.maxBytes);
    if (r.maxBytes !== undefined && maxBytes === undefined) return invalid(`${field}.maxBytes: ${JSON.stringify(r.maxBytes)} is not a quantity such as 64Mi`);
    rollups.push({
      name: r.name, from: r.from, intervalMs, groupBy: [...(r.groupBy ?? [])], aggregates: { ...(r.aggregates ?? {}) }, retainMs,
      ...(maxBytes !== undefined && { maxBytes }), owner: from,
    });
  }
  return { plan: { tables, rollups } };
}

const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;

function compileTracepoint(tp: Tracepoint): Result<PlanTracepoint> {
  const spec = tp.spec ?? {};
  const selector = spec.target?.selector ?? {};
  const matchLabels: Record<string, string> = {};
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (!LABEL_KEY.test(key)) return { reason: Reason.InvalidSelector, message: `spec.target.selector.matchLabels: ${JSON.stringify(key)} is not a valid label key` };
    if (typeof value !== 'string' || !LABEL_VALUE.test(value)) return { reason: Reason.InvalidSelector, message: `spec.target.selector.matchLabels[${key}]: ${JSON.stringify(value)} is not a valid label value` };
    matchLabels[key] = value;
  }
  const matchExpressions: PlanTracepoint['selector']['matchExpressions'] = [];
  for (const [i, e] of (selector.matchExpressions ?? []).entries()) {
    const field = `spec.target.selector.matchExpressions[${i}]`;
    if (!LABEL_KEY.test(e.key)) return { reason: Reason.InvalidSelector, message: `${field}.key: ${JSON.stringify(e.key)} is not a valid label key` };
    const values = e.values ?? [];
    if (e.operator === 'In' || e.operator === 'NotIn') {
      if (values.length === 0) return { reason: Reason.InvalidSelector, message: `${field}: operator ${e.operator} needs at least one value` };
    } else if (e.operator === 'Exists' || e.operator === 'DoesNotExist') {
      if (values.length > 0) return { reason: Reason.InvalidSelector, message: `${field}: operator ${e.operator} takes no values` };
    } else {
      return { reason: Reason.InvalidSelector, message: `${field}.operator: ${JSON.stringify(e.operator)} is not one of In, NotIn, Exists, DoesNotExist` };
    }
    const bad = values.find((v) => !LABEL_VALUE.test(v));
    if (bad !== undefined) return { reason: Reason.InvalidSelector, message: `${field}.values: ${JSON.stringify(bad)} is not a valid label value` };
    matchExpressions.push({ key: e.key, operator: e.operator, values: [...values] });
  }
  if (Object.keys(matchLabels).length === 0 && matchExpressions.length === 0) {
    return { reason: Reason.InvalidSelector, message: 'spec.target.selector is empty and would match every pod in the namespace; set matchLabels or matchExpressions' };
  }
  const processPattern = spec.target?.process;
  if (processPattern !== undefined) {
    try { new RegExp(processPattern); } catch (error) {
      return { reason: Reason.InvalidProcessPattern, message: `spec.target.process: ${(error as Error).message}` };
    }
  }
  if (!spec.table) return invalid('spec.table is required');
  const probes: PlanTracepoint['probes'] = [];
  for (const [i, p] of (spec.probes ?? []).entries()) {
    if (!p.function) return invalid(`spec.probes[${i}].function is required`);
    const fields = (list: Array<{ name?: string; expr?: string }> | undefined, what: string) =>
      (list ?? []).map((f, j) => {
        if (!f.name || !f.expr) throw new Error(`spec.probes[${i}].${what}[${j}]: name and expr are required`);
        return { name: f.name, expr: f.expr };
      });
    try {
      probes.push({ function: p.function, args: fields(p.args, 'args'), returnValues: fields(p.returnValues, 'returnValues'), latency: p.latency ?? false });
    } catch (error) {
      return invalid((error as Error).message);
    }
  }
  if (probes.length === 0) return invalid('spec.probes needs at least one probe');
  const ttlMs = spec.ttl === undefined ? undefined : parseDurationMs(spec.ttl);
  if (spec.ttl !== undefined && ttlMs === undefined) return invalid(`spec.ttl: ${JSON.stringify(spec.ttl)} is not a duration such as 10m`);
  return {
    plan: {
      key: objectKey(tp.metadata),
      namespace: tp.metadata.namespace ?? '',
      selector: { matchLabels, matchExpressions },
      ...(spec.target?.container !== undefined && { container: spec.target.container }),
      ...(processPattern !== undefined && { process: processPattern }),
      probes,
      table: spec.table,
      ...(ttlMs !== undefined && { ttlMs }),
    },
  };
}

function compileExport(ep: ExportPipeline, secretExists: PlanInputs['secretExists']): Result<PlanExport> {
  const spec = ep.spec ?? {};
  const namespace = ep.metadata.namespace ?? '';
  const source = spec.source ?? {};
  if (source.preset !== undefined && !(PRESETS as readonly string[]).includes(source.preset)) {
    return { reason: Reason.UnknownPreset, message: `spec.source.preset: ${JSON.stringify(source.preset)} is not one of ${PRESETS.join(', ')}` };
  }
  if ([source.preset, source.table, source.script].filter((v) => v !== undefined).length !== 1) {
    return invalid('spec.source: set exactly one of preset, table or script');
  }
  const intervalMs = parseDurationMs(spec.interval ?? '10s');
  if (intervalMs === undefined) return invalid(`spec.interval: ${JSON.stringify(spec.interval)} is not a duration such as 10s`);
  const otlp = spec.destination?.otlp;
  const prometheus = spec.destination?.prometheus;
  let destination: PlanExport['destination'];
  if (otlp && !prometheus) {
    if (!otlp.endpoint) return { reason: Reason.InvalidDestination, message: 'spec.destination.otlp.endpoint is required' };
    const protocol = otlp.protocol ?? 'grpc';
    if (!(OTLP_PROTOCOLS as readonly string[]).includes(protocol)) {
      return { reason: Reason.InvalidDestination, message: `spec.destination.otlp.protocol: ${JSON.stringify(protocol)} is not one of ${OTLP_PROTOCOLS.join(', ')}` };
    }
    const secretName = otlp.headersFrom?.secretRef?.name;
    if (secretName !== undefined && !secretExists(namespace, secretName)) {
      return { reason: Reason.SecretNotFound, message: `spec.destination.otlp.headersFrom.secretRef: Secret ${namespace}/${secretName} does not exist; create it or remove headersFrom` };
    }
    const tlsSecret = otlp.tls?.secretRef?.name;
    if (tlsSecret !== undefined && !secretExists(namespace, tlsSecret)) {
      return { reason: Reason.SecretNotFound, message: `spec.destination.otlp.tls.secretRef: Secret ${namespace}/${tlsSecret} does not exist; create it or remove tls.secretRef` };
    }
    const timeoutMs = otlp.timeout === undefined ? undefined : parseDurationMs(otlp.timeout);
    if (otlp.timeout !== undefined && timeoutMs === undefined) return invalid(`spec.destination.otlp.timeout: ${JSON.stringify(otlp.timeout)} is not a duration such as 10s`);
    const tls = otlp.tls && {
      ...(tlsSecret !== undefined && { secret: { namespace, name: tlsSecret } }),
      ...(otlp.tls.serverName !== undefined && { serverName: otlp.tls.serverName }),
      ...(otlp.tls.insecureSkipVerify !== undefined && { insecureSkipVerify: otlp.tls.insecureSkipVerify }),
    };
    destination = { otlp: {
      endpoint: otlp.endpoint, protocol, insecure: otlp.insecure ?? false, ...(secretName !== undefined && { headersSecret: { namespace, name: secretName } }),
      ...(tls && { tls }), ...(otlp.compression !== undefined && { compression: otlp.compression }), ...(timeoutMs !== undefined && { timeoutMs }),
    } };
  } else if (prometheus && !otlp) {
    destination = { prometheus: {
      ...(prometheus.metricPrefix !== undefined && { metricPrefix: prometheus.metricPrefix }),
      ...(prometheus.maxSeries !== undefined && { maxSeries: prometheus.maxSeries }),
    } };
  } else {
    return { reason: Reason.InvalidDestination, message: 'spec.destination: set exactly one of otlp or prometheus' };
  }
  const overflow = spec.overflow ?? 'dropOldest';
  if (!(OVERFLOW_POLICIES as readonly string[]).includes(overflow)) return invalid(`spec.overflow: ${JSON.stringify(overflow)} is not one of ${OVERFLOW_POLICIES.join(', ')}`);
  const durations: Array<[string, string | undefined]> = [
    ['spec.batch.timeout', spec.batch?.timeout], ['spec.retry.initialInterval', spec.retry?.initialInterval],
    ['spec.retry.maxInterval', spec.retry?.maxInterval], ['spec.retry.maxElapsedTime', spec.retry?.maxElapsedTime],
  ];
  for (const [field, value] of durations) {
    if (value !== undefined && parseDurationMs(value) === undefined) return invalid(`${field}: ${JSON.stringify(value)} is not a duration such as 5s`);
  }
  const queueBytes = spec.queue?.maxBytes === undefined ? undefined : parseQuantityBytes(spec.queue.maxBytes);
  if (spec.queue?.maxBytes !== undefined && queueBytes === undefined) return invalid(`spec.queue.maxBytes: ${JSON.stringify(spec.queue.maxBytes)} is not a quantity such as 32Mi`);
  const ms = (v: string | undefined) => (v === undefined ? undefined : parseDurationMs(v));
  const defined = <T extends Record<string, unknown>>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
  return {
    plan: {
      key: objectKey(ep.metadata),
      source: defined({
        preset: source.preset, table: source.table, filter: source.filter, script: source.script,
        columns: source.columns && [...source.columns], attributes: source.attributes && { ...source.attributes }, nameColumn: source.nameColumn,
      }),
      intervalMs,
      destination,
      batch: defined({ maxItems: spec.batch?.maxItems, timeoutMs: ms(spec.batch?.timeout) }),
      queue: defined({ maxItems: spec.queue?.maxItems, maxBytes: queueBytes }),
      retry: defined({ initialIntervalMs: ms(spec.retry?.initialInterval), maxIntervalMs: ms(spec.retry?.maxInterval), maxElapsedTimeMs: ms(spec.retry?.maxElapsedTime) }),
      overflow,
    },
  };
}

function invalid(message: string): { reason: string; message: string } {
  return { reason: Reason.InvalidSpec, message };
}
