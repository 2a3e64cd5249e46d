import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import type { PlanRollup } from '../../common/agent-plan.ts';
import { compileScript, executeLocal, resultToJson } from '../../query/index.ts';
import { EMPTY_METADATA_RESOLVER, type MetadataResolver } from '../../query/metadata.ts';
import { httpEvents } from '../../tables/http-events.ts';
import { TableStore } from '../store/table-store.ts';
import { pathTemplate } from './path-template.ts';
import { RetentionManager } from './retention.manager.ts';
import { compileRollup, ERROR_STATUS, OVERFLOW_STRING, Rollup } from './rollup.ts';

const SECOND = 1_000_000_000;
/** A whole minute, so interval starts are easy to read. */
const T0 = 1_700_000_040 * SECOND;
const C = Object.fromEntries(httpEvents.columns.map((c, i) => [c.name, i])) as Record<string, number>;

interface RawRow { timeNs: number; upid: string; path: string; status: number; latency: number }

function writeRows(store: TableStore, rows: readonly RawRow[]): void {
  for (const row of rows) {
    const w = store.writer('http_events');
    w.setInt(C.time_!, row.timeNs);
    w.setString(C.upid!, row.upid);
    w.setString(C.req_method!, 'GET');
    w.setString(C.req_path!, row.path);
    w.setInt(C.resp_status!, row.status);
    w.setInt(C.latency!, row.latency);
    store.commit('http_events');
  }
}

/** Deterministic pseudo-random rows over `seconds`, a few paths with ids, mixed statuses, latencies over 4 decades. */
function randomRows(count: number, seconds: number, seed = 7): RawRow[] {
  let state = seed;
  const next = (): number => { state = (Math.imul(state, 1103515245) + 12345) >>> 0; return state / 2 ** 32; };
  const paths = ['/users/{}', '/orders/{}/items', '/health', '/api/v2/cart'];
  const statuses = [200, 200, 200, 201, 304, 404, 500, 503];
  return Array.from({ length: count }, (_, i) => ({
    timeNs: T0 + Math.floor((i / count) * seconds * SECOND),
    upid: `00000001-0000-00${(i % 3).toString().padStart(2, '0')}-0000-000000000001`,
    path: paths[Math.floor(next() * paths.length)]!.replace('{}', String(Math.floor(next() * 10_000))),
    status: statuses[Math.floor(next() * statuses.length)]!,
    latency: Math.floor(10 ** (3 + next() * 4)),
  }));
}

const HTTP_1M: PlanRollup = {
  name: 'http_events_10s', from: 'http_events', intervalMs: 10_000, groupBy: ['req_path', 'resp_status'],
  aggregates: { requests: 'count', latency: 'quantiles', errors: 'errorRate', latency_sum: 'sum' }, retainMs: 3_600_000, owner: 'test',
};

function startRollup(plan: PlanRollup, options: { batchRows?: number; maxBytes?: number; maxGroupsPerInterval?: number; maxOpenIntervals?: number; metadata?: MetadataResolver } = {}) {
  const store = new TableStore({ batchRows: options.batchRows ?? 256, nowNs: () => BigInt(T0) });
  store.register(httpEvents, options.maxBytes ? { maxBytes: options.maxBytes } : {});
  const compiled = compileRollup(plan, httpEvents);
  store.register(compiled.spec);
  const rollup = new Rollup(compiled, store, {
    closeDelayMs: 1000, metadata: options.metadata ?? EMPTY_METADATA_RESOLVER,
    ...(options.maxGroupsPerInterval !== undefined && { maxGroupsPerInterval: options.maxGroupsPerInterval }),
    ...(options.maxOpenIntervals !== undefined && { maxOpenIntervals: options.maxOpenIntervals }),
  });
  return { store, rollup };
}

function rollupRows(store: TableStore, name: string): Record<string, unknown>[] {
  return store.scan(name, 0n, 1n << 62n).flatMap((b) => b.toArray().map((r) => r.toJSON() as Record<string, unknown>));
}

describe('Rollup', () => {
  describe('over http_events grouped by path template and status class', () => {
    const raw = randomRows(5000, 60);
    const { store, rollup } = startRollup(HTTP_1M, { maxOpenIntervals: 6 });
    writeRows(store, raw);
    rollup.tick(BigInt(T0 + 120 * SECOND));
    const rows = rollupRows(store, HTTP_1M.name);

    it('writes one row per interval and group', () => {
      const expected = new Set(raw.map((r) => `${Math.floor(r.timeNs / (10 * SECOND))} ${pathTemplate(r.path)} ${Math.floor(r.status / 100) * 100}`));
      assert.equal(rows.length, expected.size);
      assert.equal(rollup.stats().intervalsWritten, 6);
      assert.deepEqual(new Set(rows.map((r) => r.req_path)), new Set(['/users/*', '/orders/*/items', '/health', '/api/v2/cart']));
      assert.deepEqual(new Set(rows.map((r) => r.resp_status)), new Set([200n, 300n, 400n, 500n]));
    });

    it('has totals equal to the raw totals it summarizes', () => {
      const count = rows.reduce((n, r) => n + Number(r.requests), 0);
      assert.equal(count, raw.length);
      const latency = rows.reduce((n, r) => n + Number(r.latency_sum), 0);
      assert.equal(latency, raw.reduce((n, r) => n + r.latency, 0));
      const errors = rows.reduce((n, r) => n + Math.round((r.errors as number) * Number(r.requests)), 0);
      assert.equal(errors, raw.filter((r) => r.status >= ERROR_STATUS).length);
      assert.equal(rollup.stats().rowsAggregated, raw.length);
    });

    it('stores quantiles as px.quantiles JSON within t-digest error of the exact ones', () => {
      for (const row of rows) {
        const start = Number(BigInt(row.time_ as number) * 1_000_000n);
        const group = raw.filter((r) => Math.abs(Math.floor(r.timeNs / (10 * SECOND)) * 10 * SECOND - start) < SECOND
          && pathTemplate(r.path) === row.req_path && Math.floor(r.status / 100) * 100 === Number(row.resp_status))
          .map((r) => r.latency).sort((a, b) => a - b);
        assert.equal(group.length, Number(row.requests));
        const quantiles = JSON.parse(row.latency as string) as Record<string, number>;
        assert.deepEqual(Object.keys(quantiles), ['p01', 'p10', 'p25', 'p50', 'p75', 'p90', 'p99']);
        // Rank error: the reported p50 lies between the exact 45th and 55th percentiles (groups are small: exact).
        const rank = (q: number) => group[Math.min(group.length - 1, Math.floor(q * group.length))]!;
        assert.ok(quantiles.p50! >= rank(0.45) && quantiles.p50! <= rank(0.55), `p50 ${quantiles.p50} of ${group.length}`);
        assert.ok(quantiles.p99! <= group.at(-1)! && quantiles.p01! >= group[0]!);
      }
    });

    it('is a table the query language reads by name', () => {
      const script = `import px
df = px.DataFrame('${HTTP_1M.name}', start_time='-1h')
df.p50 = px.pluck_float64(df.latency, 'p50')
df = df.groupby('req_path').agg(requests=('requests', px.sum))
px.display(df, 'out')`;
      const result = resultToJson(executeLocal(compileScript(script, store, { nowNs: BigInt(T0 + 120 * SECOND) }), store));
      const out = result.outputs.find((o) => o.name === 'out')!;
      const total = out.rows.reduce((n, r) => n + Number(r[out.columns.findIndex((c) => c.name === 'requests')]), 0);
      assert.equal(total, raw.length);
    });
  });

  it('keeps quantiles of a large group within t-digest rank error', () => {
    const raw = randomRows(50_000, 5).map((r) => ({ ...r, path: '/one' }));
    const { store, rollup } = startRollup({ ...HTTP_1M, groupBy: ['req_path'] });
    writeRows(store, raw);
    rollup.tick(BigInt(T0 + 60 * SECOND));
    const [row] = rollupRows(store, HTTP_1M.name);
    const quantiles = JSON.parse(row!.latency as string) as Record<string, number>;
    const sorted = raw.map((r) => r.latency).sort((a, b) => a - b);
    const rankOf = (value: number): number => sorted.findIndex((v) => v >= value) / sorted.length;
    for (const [key, q] of [['p10', 0.1], ['p50', 0.5], ['p90', 0.9], ['p99', 0.99]] as const) {
      assert.ok(Math.abs(rankOf(quantiles[key]!) - q) < 0.01, `${key}: rank ${rankOf(quantiles[key]!)}`);
    }
    assert.equal(row!.requests, 50_000n);
  });

  it('rolls up every row before retention can expire it', () => {
    const raw = randomRows(3000, 30);
    const { store, rollup } = startRollup(HTTP_1M, { batchRows: 64, maxBytes: 40_000, maxOpenIntervals: 3 });
    writeRows(store, raw);
    const [source] = store.stats();
    assert.ok(source!.rowsExpired > 2000, `expired ${source!.rowsExpired}`);
    rollup.tick(BigInt(T0 + 120 * SECOND));
    assert.equal(rollupRows(store, HTTP_1M.name).reduce((n, r) => n + Number(r.requests), 0), raw.length);
  });

  it('folds groups beyond the limit into one overflow group, keeping totals', () => {
    const raw = Array.from({ length: 50 }, (_, i): RawRow => ({ timeNs: T0 + i, upid: '', path: `/p${String.fromCharCode(97 + (i % 10))}`, status: 200, latency: 1 }));
    const { store, rollup } = startRollup({ ...HTTP_1M, groupBy: ['req_path'] }, { maxGroupsPerInterval: 3 });
    writeRows(store, raw);
    rollup.tick(BigInt(T0 + 60 * SECOND));
    const rows = rollupRows(store, HTTP_1M.name);
    assert.equal(rows.length, 4);
    assert.equal(rows.reduce((n, r) => n + Number(r.requests), 0), 50);
    assert.equal(rows.find((r) => r.req_path === OVERFLOW_STRING)?.requests, 35n);
    assert.equal(rollup.stats().rowsOverflowed, 35);
  });

  it('bounds the distinct values of one key by the group limit', () => {
    const raw = Array.from({ length: 200 }, (_, i): RawRow => ({ timeNs: T0 + i, upid: '', path: `/p${i}`, status: 200 + (i % 3), latency: 1 }));
    const { store, rollup } = startRollup({ ...HTTP_1M, groupBy: ['req_path', 'resp_status'] }, { maxGroupsPerInterval: 10 });
    writeRows(store, raw);
    rollup.tick(BigInt(T0 + 60 * SECOND));
    const rows = rollupRows(store, HTTP_1M.name);
    assert.equal(rows.length, 11);
    assert.equal(rows.reduce((n, r) => n + Number(r.requests), 0), 200);
    assert.deepEqual(rows.filter((r) => r.req_path === OVERFLOW_STRING).map((r) => r.resp_status), [-1n]);
  });

  it('counts rows for an interval already written as late', () => {
    const { store, rollup } = startRollup(HTTP_1M);
    writeRows(store, [{ timeNs: T0, upid: '', path: '/', status: 200, latency: 1 }]);
    rollup.tick(BigInt(T0 + 60 * SECOND));
    writeRows(store, [{ timeNs: T0 + 1, upid: '', path: '/', status: 200, latency: 1 }]);
    rollup.tick(BigInt(T0 + 61 * SECOND));
    assert.deepEqual(rollup.stats().rowsDropped, { late: 1, interval_limit: 0, error: 0 });
    assert.equal(rollup.stats().rowsSeen, rollup.stats().rowsAggregated + 1);
  });

  it('resolves service through the metadata resolver once per distinct upid', () => {
    let calls = 0;
    const metadata: MetadataResolver = { ...EMPTY_METADATA_RESOLVER, upid: (upid, property) => { calls++; return property === 'service_name' ? `default/svc-${upid.slice(16, 18)}` : ''; } };
    const { store, rollup } = startRollup({ ...HTTP_1M, groupBy: ['service'] }, { metadata });
    writeRows(store, randomRows(900, 5));
    rollup.tick(BigInt(T0 + 60 * SECOND));
    const rows = rollupRows(store, HTTP_1M.name);
    assert.deepEqual(rows.map((r) => r.service).sort(), ['default/svc-00', 'default/svc-01', 'default/svc-02']);
    assert.ok(calls <= 3 * 4, `${calls} look-ups`);
  });

  it('refuses keys and aggregates the source cannot give, naming them', () => {
    assert.throws(() => compileRollup({ ...HTTP_1M, groupBy: ['colour'] }, httpEvents), /groupBy colour is neither a column of http_events nor one of service, pod, namespace, node/);
    assert.throws(() => compileRollup({ ...HTTP_1M, aggregates: { req_method: 'quantiles' } }, httpEvents), /aggregate req_method: quantiles reads req_method, which is a string column/);
    assert.throws(() => compileRollup({ ...HTTP_1M, aggregates: { req_path: 'count' } }, httpEvents), /aggregate req_path is already an output column/);
    assert.throws(() => compileRollup({ ...HTTP_1M, groupBy: ['time_'] }, httpEvents), /time_ is already an output column/);
  });
});

describe('RetentionManager', () => {
  it('creates, keeps, re-creates and removes rollups as the plan changes', () => {
    const store = new TableStore({ nowNs: () => BigInt(T0) });
    store.register(httpEvents);
    const retention = new RetentionManager({ store });
    const tables = [{ name: 'http_events', maxAgeMs: 60_000 }];
    assert.deepEqual(retention.apply({ tables, rollups: [HTTP_1M] }), []);
    writeRows(store, randomRows(100, 5));
    store.flush('http_events');
    retention.apply({ tables, rollups: [{ ...HTTP_1M, retainMs: 7_200_000 }] });
    assert.equal(retention.stats()[0]!.rowsSeen, 100, 'a retain change keeps the running rollup');
    assert.equal(store.stats().find((t) => t.name === HTTP_1M.name)!.maxAgeNs, 7_200_000n * 1_000_000n);
    retention.apply({ tables, rollups: [{ ...HTTP_1M, groupBy: ['req_path'] }] });
    assert.equal(retention.stats()[0]!.rowsSeen, 100, 'a new shape re-reads the rows the source holds');
    assert.deepEqual(retention.apply({ tables: [], rollups: [] }), []);
    assert.equal(store.getTable(HTTP_1M.name), undefined);
    assert.equal(store.stats()[0]!.maxAgeNs, 0n, 'a table no longer budgeted goes back to the defaults');
  });

  it('builds rollups of rollups after their source and reports what it cannot build', () => {
    const store = new TableStore({ nowNs: () => BigInt(T0) });
    store.register(httpEvents);
    const retention = new RetentionManager({ store });
    const hourly: PlanRollup = { ...HTTP_1M, name: 'http_events_1h', from: HTTP_1M.name, intervalMs: 3_600_000, groupBy: ['req_path'], aggregates: { requests: 'sum' } };
    const orphan: PlanRollup = { ...HTTP_1M, name: 'kafka_1m', from: 'kafka_events' };
    const problems = retention.apply({ tables: [{ name: HTTP_1M.name, maxBytes: 1 }], rollups: [hourly, HTTP_1M, orphan] });
    assert.deepEqual(problems, [
      'rollup kafka_1m reads table kafka_events, which this agent does not have',
      `table ${HTTP_1M.name} is a rollup: its budget is the rollup's retain and maxBytes`,
    ]);
    assert.deepEqual(retention.stats().map((s) => s.name), [HTTP_1M.name, 'http_events_1h']);
  });
});
