// ExportPipeline (namespaced): the only way data leaves the cluster. A source
// (preset, PxL script, or table + filter) runs every interval on the agents;
// rows go to one destination (OTLP or a Prometheus scrape endpoint) through a
// bounded queue whose overflow is counted.
import { IDENTIFIER_PATTERN, s, type Infer } from '../schema.builder.ts';
import {
  conditions, GROUP, observedGeneration, secretRef, VERSION,
  type KindNames, type Problem, type Resource,
} from './common.types.ts';
import { parseQuantityBytes, validateDuration } from './validation.ts';

export const EXPORT_PIPELINE: KindNames = Object.freeze({
  group: GROUP, version: VERSION, kind: 'ExportPipeline', plural: 'exportpipelines', singular: 'exportpipeline',
  shortNames: Object.freeze(['wep']), scope: 'Namespaced',
});

export const ExportPipelineConditions = Object.freeze({
  Ready: 'Ready',
  /** The last export attempt reached the destination. */
  Exporting: 'Exporting',
  /** Every referenced Secret exists and holds the expected keys. */
  SecretsResolved: 'SecretsResolved',
} as const);

/** Named sources with a fixed script and OTel mapping. */
export const EXPORT_PRESETS = Object.freeze(['http-spans', 'http-metrics', 'db-spans', 'process-metrics'] as const);
export const OVERFLOW_POLICIES = Object.freeze(['block', 'dropOldest', 'dropNewest'] as const);

const oneOf = (fields: readonly string[]): string => `${fields.map((f) => `(has(self.${f}) ? 1 : 0)`).join(' + ')} == 1`;

export const exportSource = s.object({
  preset: s.enum(EXPORT_PRESETS, { description: `A named source: ${EXPORT_PRESETS.join(', ')}.` }),
  script: s.string({ description: 'A PxL script; each px.display output is exported (as spans to otlp, as gauges to prometheus).', minLength: 1, maxLength: 65536 }),
  table: s.string({ description: 'Export rows of this table as they are.', pattern: IDENTIFIER_PATTERN, minLength: 1, maxLength: 63 }),
  filter: s.string({ description: 'With table: a PxL boolean expression over its columns (resp_status >= 500); columns by bare name or as df.<column>, px functions allowed. Only rows where it is true are exported.', minLength: 1, maxLength: 4096 }),
  columns: s.array(s.string({ description: 'A column name.', pattern: IDENTIFIER_PATTERN, maxLength: 63 }), {
    description: 'With table: columns to export. Absent: every column.', maxItems: 64, listType: 'set',
  }),
  attributes: s.map(s.string({ description: 'The OTel attribute name (e.g. db.query.text).', minLength: 1, maxLength: 255 }), {
    description: 'With script or table: column → span attribute name. With a script only these columns are exported; with a table it replaces columns.', maxProperties: 64,
  }),
  nameColumn: s.string({ description: 'With script: the column whose value names each span (default: the output name).', pattern: IDENTIFIER_PATTERN, maxLength: 63 }),
}, { description: 'What to export: exactly one of preset, script or table.' }).validate({
  rule: oneOf(['preset', 'script', 'table']),
  message: 'set exactly one of preset, script or table',
}, {
  rule: '(!has(self.filter) && !has(self.columns)) || has(self.table)',
  message: 'filter and columns apply only to a table source',
}, {
  rule: '(!has(self.attributes) && !has(self.nameColumn)) || has(self.script) || (has(self.table) && !has(self.nameColumn))',
  message: 'attributes apply to a script or table source, nameColumn to a script source',
});
export type ExportSource = Infer<typeof exportSource>;

export const otlpDestination = s.object({
  endpoint: s.string({
    description: 'host:port of the OTLP receiver (grpc), or its base URL (http/protobuf).', minLength: 1, maxLength: 1024,
  }).required(),
  protocol: s.enum(['grpc', 'http/protobuf'] as const, { description: 'OTLP transport.', default: 'grpc' }),
  insecure: s.boolean({ description: 'Plain text, no TLS. Only for receivers inside the cluster.', default: false }),
  tls: s.object({
    secretRef: secretRef,
    serverName: s.string({ description: 'Server name to verify; absent: the endpoint\'s host.', maxLength: 253 }),
    insecureSkipVerify: s.boolean({ description: 'Do not verify the server certificate. For tests only.', default: false }),
  }, { description: 'TLS settings. The Secret\'s keys ca.crt (CA bundle), tls.crt and tls.key (client certificate) are each optional.' }),
  headersFrom: s.object({ secretRef: secretRef.required() }, {
    description: 'Request headers (e.g. authorization) from a Secret: each key is a header name, each value its value.',
  }),
  compression: s.enum(['gzip', 'none'] as const, { description: 'Payload compression.', default: 'gzip' }),
  timeout: s.duration({ description: 'Deadline of one export request.', default: '10s' }),
}, { description: 'Send to an OpenTelemetry (OTLP) receiver.' }).validate({
  rule: '!has(self.insecure) || !self.insecure || !has(self.tls)',
  message: 'insecure: true turns TLS off; remove tls or insecure',
});

export const prometheusDestination = s.object({
  path: s.string({ description: 'HTTP path of the scrape endpoint on each agent\'s listen address.', default: '/metrics', pattern: '^/[-a-zA-Z0-9_./]*$', maxLength: 256 }),
  metricPrefix: s.string({
    description: 'With a script source: each int64/float64 output column becomes a gauge named <metricPrefix>_<column>. Absent: wisp_<pipeline name> (non-alphanumerics as _).',
    pattern: '^[a-zA-Z_:][a-zA-Z0-9_:]*$', minLength: 1, maxLength: 128,
  }),
  maxSeries: s.integer({
    description: 'With a script source: most series served by each agent; rows past it are dropped (reason seriesLimit).', default: 2000, minimum: 1, maximum: 100_000,
  }),
}, {
  description: 'Serve the rows as metrics for Prometheus to scrape (metric presets or a script). A script\'s rows become gauges: '
    + 'int64/float64 columns are values (<metricPrefix>_<column>), string, uint128 and boolean columns are labels, time_ is ignored; '
    + 'each run replaces the served series. A script output without a numeric column is InvalidSource.',
});

export const exportDestination = s.object({
  otlp: otlpDestination,
  prometheus: prometheusDestination,
}, { description: 'Where rows go: exactly one of otlp or prometheus.' }).validate({
  rule: oneOf(['otlp', 'prometheus']),
  message: 'set exactly one of otlp or prometheus',
});
export type ExportDestination = Infer<typeof exportDestination>;

export const exportPipelineSpec = s.object({
  source: exportSource.required(),
  interval: s.duration({ description: 'How often the source runs; each run exports the rows since the last one.', default: '10s' }),
  destination: exportDestination.required(),
  batch: s.object({
    maxItems: s.integer({ description: 'Most items (spans, data points) in one export request.', default: 4096, minimum: 1, maximum: 1_000_000 }),
    timeout: s.duration({ description: 'Send a partial batch after this long.', default: '5s' }),
  }, { description: 'How items are grouped into export requests.', default: {} }),
  queue: s.object({
    maxItems: s.integer({ description: 'Most items waiting to be exported on each agent.', default: 16384, minimum: 1, maximum: 10_000_000 }),
    maxBytes: s.quantity({ description: 'Most bytes waiting to be exported on each agent (e.g. 32Mi).', default: '32Mi' }),
  }, { description: 'Bound of the export queue; overflow says what happens when it is full.', default: {} }),
  retry: s.object({
    enabled: s.boolean({ description: 'Retry failed exports (with exponential backoff).', default: true }),
    initialInterval: s.duration({ description: 'Wait before the first retry.', default: '1s' }),
    maxInterval: s.duration({ description: 'Longest wait between retries.', default: '30s' }),
    maxElapsedTime: s.duration({ description: 'Give up a batch (counted as dropped, reason retryExhausted) after this long.', default: '5m' }),
  }, { description: 'Retry of failed exports.', default: {} }),
  overflow: s.enum(OVERFLOW_POLICIES, {
    description: 'When the queue is full: block (stop reading the source; rows age out of the tables), dropOldest or dropNewest. Drops are counted.',
    default: 'dropOldest',
  }),
}, { description: 'A periodic export of query results to an OpenTelemetry or Prometheus destination.' }).validate({
  rule: '!has(self.batch) || !has(self.queue) || !has(self.batch.maxItems) || !has(self.queue.maxItems) || self.queue.maxItems >= self.batch.maxItems',
  message: 'queue.maxItems must be at least batch.maxItems',
  fieldPath: '.queue.maxItems',
}, {
  rule: '!has(self.destination.prometheus) || has(self.source.script) || (has(self.source.preset) && self.source.preset in [\'http-metrics\', \'process-metrics\'])',
  message: 'prometheus serves metrics: use a metrics preset (http-metrics, process-metrics) or a script',
  fieldPath: '.destination.prometheus',
});
export type ExportPipelineSpec = Infer<typeof exportPipelineSpec>;

export const exportPipelineStatus = s.object({
  observedGeneration,
  conditions,
  exported: s.integer({ description: 'Items exported since the pipeline was created, summed over agents.', minimum: 0 }),
  dropped: s.integer({ description: 'Items dropped (queue full, retries exhausted, refused by the destination), summed over agents.', minimum: 0 }),
  droppedByReason: s.map(s.integer({ description: 'Items dropped for this reason.', minimum: 0 }), {
    description: 'dropped split by reason (queueFull, retryExhausted, rejected, ...).', maxProperties: 16,
  }),
  lastError: s.string({ description: 'The last export error, with the agent that saw it. Empty after a success.', maxLength: 4096 }),
  lastErrorTime: s.dateTime({ description: 'When lastError happened.' }),
  lastExportTime: s.dateTime({ description: 'When an export last succeeded.' }),
}, { description: 'Export counters and errors.' });
export type ExportPipelineStatus = Infer<typeof exportPipelineStatus>;

export type ExportPipeline = Resource<'ExportPipeline', ExportPipelineSpec, ExportPipelineStatus>;

export const exportPipelineSchema = Object.freeze({ names: EXPORT_PIPELINE, spec: exportPipelineSpec, status: exportPipelineStatus });

/**
 * Problems the schema cannot express: retry intervals out of order, a queue
 * smaller in bytes than a sensible batch. Secret existence is checked by the
 * operator against the cluster, not here. Pure.
 */
export function validateExportPipeline(pipeline: Pick<ExportPipeline, 'spec'>): Problem[] {
  const problems: Problem[] = [];
  const spec = pipeline.spec;
  if (spec.interval !== undefined && validateDuration(spec.interval, 'spec.interval', problems) === 0) {
    problems.push({ field: 'spec.interval', reason: 'InvalidDuration', message: 'interval must be positive' });
  }
  const retry = spec.retry;
  if (retry?.initialInterval !== undefined && retry.maxInterval !== undefined) {
    const initialMs = validateDuration(retry.initialInterval, 'spec.retry.initialInterval', problems);
    const maxMs = validateDuration(retry.maxInterval, 'spec.retry.maxInterval', problems);
    if (initialMs !== undefined && maxMs !== undefined && initialMs > maxMs) {
      problems.push({ field: 'spec.retry.maxInterval', reason: 'RetryIntervalsOutOfOrder', message: `retry.maxInterval ${retry.maxInterval} is below initialInterval ${retry.initialInterval}; raise it` });
    }
  }
  const queueBytes = spec.queue?.maxBytes === undefined ? undefined : parseQuantityBytes(spec.queue.maxBytes);
  if (spec.queue?.maxBytes !== undefined && queueBytes === undefined) {
    problems.push({ field: 'spec.queue.maxBytes', reason: 'InvalidQuantity', message: `queue.maxBytes ${String(spec.queue.maxBytes)} is not a quantity such as 32Mi` });
  } else if (queueBytes !== undefined && queueBytes < 64 * 1024) {
    problems.push({ field: 'spec.queue.maxBytes', reason: 'QueueTooSmall', message: `queue.maxBytes ${String(spec.queue?.maxBytes)} holds less than one batch; use at least 64Ki` });
  }
  return problems;
}

/** Names of the Secrets a pipeline refers to, for the operator to check and watch. */
export function referencedSecrets(pipeline: Pick<ExportPipeline, 'spec'>): string[] {
  const otlp = pipeline.spec.destination.otlp;
  const names = [otlp?.headersFrom?.secretRef.name, otlp?.tls?.secretRef?.name].filter((n): n is string => n !== undefined);
  return [...new Set(names)];
}
