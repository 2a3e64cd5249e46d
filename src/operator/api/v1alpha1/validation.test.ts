import assert from 'node:assert/strict';
import {
  findRetentionConflicts, isLabelKey, parseDurationMs, parseQuantityBytes, referencedSecrets,
  validateCollector, validateDataRetention, validateExportPipeline, validateTracepoint,
  type DataRetentionSpec, type ExportPipelineSpec, type TracepointSpec,
} from './index.ts';

const reasons = (problems: { reason: string }[]): string[] => problems.map((p) => p.reason);

describe('API validation helpers', () => {
  describe('parseQuantityBytes', () => {
    it('reads binary and decimal suffixes and plain integers', () => {
      assert.equal(parseQuantityBytes('256Mi'), 256 * 2 ** 20);
      assert.equal(parseQuantityBytes('1G'), 1e9);
      assert.equal(parseQuantityBytes('1.5Ki'), 1536);
      assert.equal(parseQuantityBytes(1024), 1024);
    });
    it('refuses negatives and junk', () => {
      for (const bad of ['-1Mi', 'lots', '1Qi', '', -5]) assert.equal(parseQuantityBytes(bad), undefined, String(bad));
    });
  });

  describe('parseDurationMs', () => {
    it('sums the parts of a duration', () => {
      assert.equal(parseDurationMs('1m30s'), 90_000);
      assert.equal(parseDurationMs('7d'), 7 * 86_400_000);
      assert.equal(parseDurationMs('500ms'), 500);
      assert.equal(parseDurationMs('1.5h'), 5_400_000);
    });
    it('refuses what the CRD pattern refuses', () => {
      for (const bad of ['10 seconds', '10', '', 's', '1m junk']) assert.equal(parseDurationMs(bad), undefined, bad);
    });
  });

  describe('isLabelKey', () => {
    it('accepts names and prefixed names', () => {
      for (const good of ['app', 'app.kubernetes.io/name', 'a_b-c.d']) assert.ok(isLabelKey(good), good);
    });
    it('refuses empty parts, bad characters and long names', () => {
      for (const bad of ['', '/app', 'Bad_Prefix/x', 'a b', `${'x'.repeat(64)}`, 'app/']) assert.ok(!isLabelKey(bad), bad);
    });
  });
});

describe('validateCollector', () => {
  it('accepts the defaults', () => assert.deepEqual(validateCollector({ spec: {} }), []));
  it('asks for a memory limit an agent can live in', () => {
    assert.deepEqual(reasons(validateCollector({ spec: { memoryLimit: '16Mi' } })), ['MemoryLimitTooSmall']);
  });
  it('names nodeSelector keys that can never match', () => {
    assert.deepEqual(reasons(validateCollector({ spec: { nodeSelector: { 'bad key': 'x' } } })), ['InvalidLabelKey']);
  });
});

describe('validateTracepoint', () => {
  const spec: TracepointSpec = { target: { selector: { matchLabels: { app: 'checkout' } }, process: '^/app/server$' }, probes: [{ function: 'main.f' }], table: 't', ttl: '10m' };
  it('accepts a well-formed Tracepoint', () => assert.deepEqual(validateTracepoint({ spec }), []));
  it('reports a process pattern that is not a regular expression', () => {
    const problems = validateTracepoint({ spec: { ...spec, target: { ...spec.target, process: '(' } } });
    assert.deepEqual(reasons(problems), ['InvalidProcessPattern']);
    assert.equal(problems[0]?.field, 'spec.target.process');
  });
  it('reports selector keys that are not label keys', () => {
    const problems = validateTracepoint({ spec: { ...spec, target: { selector: { matchExpressions: [{ key: '-x', operator: 'Exists' }] } } } });
    assert.deepEqual(problems.map((p) => p.field), ['spec.target.selector.matchExpressions[0].key']);
  });
  it('refuses a zero ttl', () => assert.deepEqual(reasons(validateTracepoint({ spec: { ...spec, ttl: '0s' } })), ['InvalidDuration']));
  it('does not change its argument', () => {
    const frozen = Object.freeze({ spec: Object.freeze({ ...spec }) });
    validateTracepoint(frozen);
  });
});

describe('validateDataRetention', () => {
  const knownTables = new Set(['http_events']);
  const spec: DataRetentionSpec = {
    tables: [{ name: 'http_events', maxBytes: '256Mi', maxAge: '30m' }],
    rollups: [{ name: 'http_1m', from: 'http_events', interval: '1m', aggregates: { requests: 'count' }, retain: '7d' }],
  };
  it('accepts rollups of known tables and of other rollups', () => {
    const chained: DataRetentionSpec = { rollups: [...spec.rollups!, { name: 'http_1h', from: 'http_1m', interval: '1h', aggregates: { requests: 'sum' }, retain: '30d' }] };
    assert.deepEqual(validateDataRetention({ spec }, { knownTables }), []);
    assert.deepEqual(validateDataRetention({ spec: chained }, { knownTables }), []);
  });
  it('names a rollup reading a table no agent produces', () => {
    const problems = validateDataRetention({ spec: { rollups: [{ ...spec.rollups![0]!, from: 'nope_events' }] } }, { knownTables });
    assert.deepEqual(reasons(problems), ['UnknownTable']);
    assert.equal(problems[0]?.field, 'spec.rollups[0].from');
  });
  it('refuses a retain shorter than one bucket and sub-second buckets', () => {
    const problems = validateDataRetention({ spec: { rollups: [{ ...spec.rollups![0]!, interval: '500ms', retain: '100ms' }] } }, { knownTables });
    assert.deepEqual(reasons(problems), ['IntervalTooShort', 'RetainShorterThanInterval']);
  });
});

describe('findRetentionConflicts', () => {
  const budget = (table: string): DataRetentionSpec => ({ tables: [{ name: table, maxBytes: '1Mi' }] });
  it('lets the oldest DataRetention keep a table and reports the newer one', () => {
    const claims = [
      { name: 'newer', createdAt: '2026-01-02T00:00:00Z', spec: budget('http_events') },
      { name: 'older', createdAt: '2026-01-01T00:00:00Z', spec: budget('http_events') },
      { name: 'other', createdAt: '2026-01-03T00:00:00Z', spec: budget('conn_stats') },
    ];
    const conflicts = findRetentionConflicts(claims);
    assert.deepEqual([...conflicts], [['newer', [{ table: 'http_events', dataRetention: 'older' }]]]);
    assert.deepEqual([...findRetentionConflicts([...claims].reverse())], [...conflicts]);
  });
  it('breaks creation-time ties by name', () => {
    const at = '2026-01-01T00:00:00Z';
    const conflicts = findRetentionConflicts([{ name: 'b', createdAt: at, spec: budget('t') }, { name: 'a', createdAt: at, spec: budget('t') }]);
    assert.deepEqual(conflicts.get('b'), [{ table: 't', dataRetention: 'a' }]);
  });
});

describe('validateExportPipeline', () => {
  const spec: ExportPipelineSpec = {
    source: { preset: 'http-spans' },
    destination: { otlp: { endpoint: 'jaeger:4317', headersFrom: { secretRef: { name: 'otlp-auth' } }, tls: { secretRef: { name: 'otlp-tls' } } } },
    retry: { initialInterval: '1s', maxInterval: '30s' },
    queue: { maxBytes: '32Mi' },
  };
  it('accepts the DESIGN sample', () => assert.deepEqual(validateExportPipeline({ spec }), []));
  it('reports retry intervals out of order', () => {
    assert.deepEqual(reasons(validateExportPipeline({ spec: { ...spec, retry: { initialInterval: '1m', maxInterval: '1s' } } })), ['RetryIntervalsOutOfOrder']);
  });
  it('reports a queue too small for a batch', () => {
    assert.deepEqual(reasons(validateExportPipeline({ spec: { ...spec, queue: { maxBytes: '1Ki' } } })), ['QueueTooSmall']);
  });
  it('lists the Secrets the operator must check', () => {
    assert.deepEqual(referencedSecrets({ spec }), ['otlp-auth', 'otlp-tls']);
    assert.deepEqual(referencedSecrets({ spec: { ...spec, destination: { prometheus: {} } } }), []);
  });
});
