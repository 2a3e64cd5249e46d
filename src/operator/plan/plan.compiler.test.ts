import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import type { Collector, DataRetention, ExportPipeline, Tracepoint } from '../resources.ts';
import { parseAgentHealth, planVersion } from '../../common/agent-plan.ts';
import { compileInputs, planForCollector, type PlanInputs } from './plan.compiler.ts';
import { parseDurationMs, parseQuantityBytes } from './units.ts';

const collector: Collector = { metadata: { name: 'default' }, spec: { namespace: 'wisp-system', memoryLimit: '1Gi', sources: ['http'] } };

function dr(name: string, created: string, tables: Array<{ name: string; maxBytes?: string; maxAge?: string }>): DataRetention {
  return { metadata: { name, creationTimestamp: new Date(created), generation: 1 }, spec: { tables } };
}

function tp(name: string, selector: Tracepoint['spec'] extends infer S ? S extends { target?: infer T } ? T extends { selector?: infer L } ? L : never : never : never): Tracepoint {
  return { metadata: { name, namespace: 'shop', generation: 3 }, spec: { target: { selector }, probes: [{ function: 'main.f', latency: true }], table: 'f_calls' } };
}

function ep(name: string, spec: ExportPipeline['spec']): ExportPipeline {
  return { metadata: { name, namespace: 'shop' }, spec };
}

const none: PlanInputs = { tracepoints: [], dataRetentions: [], exportPipelines: [], secretExists: () => false };

describe('plan compiler', () => {
  describe('units', () => {
    it('parses quantities and durations, refusing nonsense', () => {
      assert.equal(parseQuantityBytes('256Mi'), 256 * 2 ** 20);
      assert.equal(parseQuantityBytes('1G'), 1e9);
      assert.equal(parseQuantityBytes('12x'), undefined);
      assert.equal(parseDurationMs('1h30m'), 5_400_000);
      assert.equal(parseDurationMs('7d'), 7 * 86_400_000);
      assert.equal(parseDurationMs('500ms'), 500);
      assert.equal(parseDurationMs('10'), undefined);
      assert.equal(parseDurationMs('0s'), undefined);
    });
  });

  describe('the plan version', () => {
    it('is the same for the same inputs in any order, and changes with content', () => {
      const a = dr('a', '2025-01-01T00:00:00Z', [{ name: 'http_events', maxBytes: '256Mi' }]);
      const b = dr('b', '2025-01-02T00:00:00Z', [{ name: 'dns_events', maxAge: '5m' }]);
      const p1 = planForCollector(collector, compileInputs({ ...none, dataRetentions: [a, b] }));
      const p2 = planForCollector(collector, compileInputs({ ...none, dataRetentions: [b, a] }));
      assert.equal(p1.version, p2.version);
      assert.equal(p1.version, planVersion(p1));
      assert.match(p1.version, /^[0-9a-f]{16}$/);
      const p3 = planForCollector(collector, compileInputs({ ...none, dataRetentions: [a] }));
      assert.notEqual(p1.version, p3.version);
      assert.deepEqual(p1.tables.map((t) => t.name), ['dns_events', 'http_events']);
      assert.equal(p1.collector.memoryLimitBytes, 2 ** 30);
    });
  });

  describe('with two DataRetentions setting the same table', () => {
    it('keeps the older one and marks the newer Conflict, naming both', () => {
      const older = dr('older', '2025-01-01T00:00:00Z', [{ name: 'http_events', maxBytes: '1Mi' }]);
      const newer = dr('newer', '2025-01-02T00:00:00Z', [{ name: 'http_events', maxBytes: '2Mi' }]);
      const compiled = compileInputs({ ...none, dataRetentions: [newer, older] });
      assert.deepEqual(compiled.tables, [{ name: 'http_events', maxBytes: 2 ** 20, from: 'DataRetention/older' }]);
      const verdict = compiled.verdicts.find((v) => v.key === 'newer')!;
      assert.equal(verdict.ok, false);
      assert.equal(verdict.reason, 'Conflict');
      assert.match(verdict.message, /http_events.*older/);
      assert.equal(compiled.verdicts.find((v) => v.key === 'older')!.ok, true);
    });
  });

  describe('with a bad DataRetention budget', () => {
    it('says which field is wrong', () => {
      const compiled = compileInputs({ ...none, dataRetentions: [dr('x', '2025-01-01T00:00:00Z', [{ name: 't', maxAge: 'forever' }])] });
      assert.equal(compiled.verdicts[0]!.reason, 'InvalidSpec');
      assert.match(compiled.verdicts[0]!.message, /spec\.tables\[0\]\.maxAge/);
    });
  });

  describe('Tracepoints', () => {
    it('compiles a good one with its key and generation', () => {
      const compiled = compileInputs({ ...none, tracepoints: [tp('cart', { matchLabels: { app: 'checkout' } })] });
      assert.deepEqual(compiled.verdicts[0], { kind: 'Tracepoint', key: 'shop/cart', generation: 3, ok: true, reason: 'Compiled', message: 'compiled into the agent plan' });
      assert.equal(compiled.tracepoints[0]!.table, 'f_calls');
    });

    for (const [what, selector, pattern] of [
      ['a bad label key', { matchLabels: { 'bad key!': 'x' } }, /label key/],
      ['an In without values', { matchExpressions: [{ key: 'app', operator: 'In' }] }, /needs at least one value/],
      ['an unknown operator', { matchExpressions: [{ key: 'app', operator: 'Near', values: ['x'] }] }, /not one of In/],
      ['an empty selector', {}, /match every pod/],
    ] as const) {
      it(`refuses ${what} as InvalidSelector`, () => {
        const compiled = compileInputs({ ...none, tracepoints: [tp('t', selector as never)] });
        assert.equal(compiled.verdicts[0]!.reason, 'InvalidSelector');
        assert.match(compiled.verdicts[0]!.message, pattern);
        assert.equal(compiled.tracepoints.length, 0);
      });
    }
  });

  describe('ExportPipelines', () => {
    const otlp = (secret?: string) => ({ otlp: { endpoint: 'jaeger:4317', protocol: 'grpc', ...(secret && { headersFrom: { secretRef: { name: secret } } }) } });

    it('refuses a missing headers Secret as SecretNotFound, and accepts it once it exists', () => {
      const pipeline = ep('p', { source: { preset: 'http-spans' }, destination: otlp('otlp-auth') });
      const missing = compileInputs({ ...none, exportPipelines: [pipeline] });
      assert.equal(missing.verdicts[0]!.reason, 'SecretNotFound');
      assert.match(missing.verdicts[0]!.message, /Secret shop\/otlp-auth does not exist/);
      const present = compileInputs({ ...none, exportPipelines: [pipeline], secretExists: (ns, name) => ns === 'shop' && name === 'otlp-auth' });
      assert.equal(present.verdicts[0]!.ok, true);
      assert.deepEqual(present.exports[0]!.destination, { otlp: { endpoint: 'jaeger:4317', protocol: 'grpc', insecure: false, headersSecret: { namespace: 'shop', name: 'otlp-auth' } } });
    });

    it('refuses an unknown preset and a destination with both or neither kind', () => {
      const compiled = compileInputs({
        ...none,
        exportPipelines: [
          ep('a', { source: { preset: 'magic' }, destination: otlp() }),
          ep('b', { source: { preset: 'http-spans' }, destination: { ...otlp(), prometheus: {} } }),
          ep('c', { source: { preset: 'http-spans' }, destination: {} }),
        ],
      });
      assert.deepEqual(compiled.verdicts.map((v) => v.reason), ['UnknownPreset', 'InvalidDestination', 'InvalidDestination']);
    });

    it('carries a table source\'s filter and a prometheus destination\'s metricPrefix and maxSeries to the agents', () => {
      const compiled = compileInputs({
        ...none,
        exportPipelines: [
          ep('errors', { source: { table: 'http_events', filter: 'resp_status >= 500' }, destination: otlp() }),
          ep('paths', { source: { script: 'import px' }, destination: { prometheus: { metricPrefix: 'shop_paths', maxSeries: 50 } } }),
          ep('plain', { source: { script: 'import px' }, destination: { prometheus: {} } }),
        ],
      });
      assert.deepEqual(compiled.exports.map((e) => [e.source.filter, e.destination]), [
        ['resp_status >= 500', { otlp: { endpoint: 'jaeger:4317', protocol: 'grpc', insecure: false } }],
        [undefined, { prometheus: { metricPrefix: 'shop_paths', maxSeries: 50 } }],
        [undefined, { prometheus: {} }],
      ]);
    });
  });

  describe('agent health annotations', () => {
    it('parses good JSON and refuses malformed text', () => {
      assert.deepEqual(parseAgentHealth('{"ready":true,"reason":"Running","message":"","appliedAt":"2025-01-01T00:00:00Z"}'), { ready: true, reason: 'Running', message: '', appliedAt: '2025-01-01T00:00:00Z' });
      assert.equal(parseAgentHealth('{not json'), undefined);
      assert.equal(parseAgentHealth('{"ready":"yes"}'), undefined);
      assert.equal(parseAgentHealth(undefined), undefined);
    });
  });
});
