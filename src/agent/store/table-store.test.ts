import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { defineTable } from '../../tables/schema.ts';
import { httpEvents } from '../../tables/http-events.ts';
import { TableStore } from './table-store.ts';
import { EpochClock } from '../clock.ts';

const tiny = defineTable({
  name: 'tiny',
  description: 'test table',
  columns: [
    { name: 'time_', type: 'time64ns', description: 't' },
    { name: 'n', type: 'int64', description: 'n' },
    { name: 'f', type: 'float64', description: 'f' },
    { name: 'ok', type: 'boolean', description: 'ok' },
    { name: 's', type: 'string', description: 's' },
    { name: 'd', type: 'string', description: 'd', dictionary: true },
  ],
});

function fill(store: TableStore, count: number, start = 0): void {
  for (let i = start; i < start + count; i++) {
    const w = store.writer('tiny');
    w.setInt(0, 1_000_000 + i);
    w.setInt(1, i * 3 - 7);
    w.setFloat(2, i / 2);
    w.setBool(3, i % 3 === 0);
    if (i % 5 !== 0) w.setString(4, `row-${i}-é`);
    w.setString(5, i % 2 ? 'odd' : 'even');
    store.commit('tiny');
  }
}

describe('TableStore', () => {
  describe('with rows across several batches', () => {
    it('returns every value with its Arrow type', () => {
      const store = new TableStore({ batchRows: 4 });
      store.register(tiny);
      fill(store, 10);
      const batches = store.scan('tiny', 0n, 1n << 62n);
      assert.equal(batches.reduce((n, b) => n + b.numRows, 0), 10);
      const rows = batches.flatMap((b) => b.toArray().map((r) => r.toJSON()));
      // Arrow's row view reads Timestamp<ns> as float ms; the raw values are exact.
      const times = batches.flatMap((b) => [...(b.getChild('time_')!.data[0]!.values as BigInt64Array)]);
      assert.equal(times[7], 1_000_007n);
      assert.equal(rows[7]!.n, 14n);
      assert.equal(rows[2]!.n, -1n);
      assert.equal(rows[7]!.f, 3.5);
      assert.equal(rows[6]!.ok, true);
      assert.equal(rows[7]!.ok, false);
      assert.equal(rows[7]!.s, 'row-7-é');
      assert.equal(rows[5]!.s, '', 'an unset string is empty');
      assert.equal(rows[7]!.d, 'odd');
      assert.equal(rows[8]!.d, 'even');
    });

    it('stores a value repeated from the previous row as its own copy, also after an unset row', () => {
      const store = new TableStore({ batchRows: 8 });
      store.register(tiny);
      const long = 'x'.repeat(100);
      const values = ['SELECT 1 [a]', 'SELECT 1 [a]', 'SELECT 1 [a]', undefined, 'SELECT 1 [a]', long, long, 'é'];
      values.forEach((value, i) => {
        store.writer('tiny').setInt(0, 1_000_000 + i);
        if (value !== undefined) store.writer('tiny').setString(4, value);
        store.commit('tiny');
      });
      const rows = store.scan('tiny', 0n, 1n << 62n).flatMap((b) => b.toArray().map((r) => r.toJSON().s as string));
      assert.deepEqual(rows, values.map((v) => v ?? ''));
    });

    it('skips batches outside the time range', () => {
      const store = new TableStore({ batchRows: 4 });
      store.register(tiny);
      fill(store, 12);
      assert.equal(store.scan('tiny', 1_000_008n, 1_000_009n).length, 1);
    });
  });

  describe('with a byte budget', () => {
    it('drops the oldest whole batches and counts the rows', () => {
      const store = new TableStore({ batchRows: 8 });
      store.register(tiny, { maxBytes: 2000 });
      fill(store, 200);
      const [stats] = store.stats();
      assert.ok(stats!.bytes <= 2000 + 8 * 200, `bytes ${stats!.bytes}`);
      assert.ok(stats!.rowsExpired > 0);
      assert.equal(stats!.rowsAdded, 200);
      assert.equal(stats!.rows + stats!.rowsExpired + stats!.rowsDropped, 200);
      const batches = store.scan('tiny', 0n, 1n << 62n);
      assert.equal(batches.at(-1)!.toArray().at(-1)!.toJSON().n, BigInt(199 * 3 - 7), 'the newest rows are kept');
    });

    it('enforces the total budget across tables', () => {
      const store = new TableStore({ batchRows: 8, totalBudgetBytes: 3000 });
      store.register(tiny);
      fill(store, 300);
      assert.ok(store.totalBytes() <= 3000 + 2000);
      const [stats] = store.stats();
      assert.equal(stats!.rows + stats!.rowsExpired + stats!.rowsDropped, 300);
    });

    it('expires a batch once its oldest row is older than maxAge, on tick', () => {
      const store = new TableStore({ batchRows: 4 });
      store.register(tiny, { maxAgeNs: 100n });
      fill(store, 8);
      store.tick(1_000_000n + 100n);
      assert.equal(store.stats()[0]!.rowsExpired, 0);
      store.tick(1_000_000n + 104n);
      assert.equal(store.stats()[0]!.rowsExpired, 4);
      assert.equal(store.stats()[0]!.rowsExpiredBy.age, 4);
    });

    it('never returns a row older than maxAge from a scan, even between ticks', () => {
      let now = 1_000_000n;
      const store = new TableStore({ batchRows: 4, nowNs: () => now });
      store.register(tiny, { maxAgeNs: 50n });
      fill(store, 10);
      now = 1_000_000n + 55n;
      const times = store.scan('tiny', 0n, 1n << 62n).flatMap((b) => [...(b.getChild('time_')!.data[0]!.values as BigInt64Array)]);
      assert.ok(times.length > 0 && times.every((t) => t >= now - 50n), `times ${times.join(',')}`);
      const [stats] = store.stats();
      assert.equal(stats!.rows + stats!.rowsExpired, 10);
    });

    it('counts each expiry and drop under its reason', () => {
      const store = new TableStore({ batchRows: 8, totalBudgetBytes: 6000 });
      store.register(tiny, { maxBytes: 3000 });
      store.register({ ...tiny, name: 'other' });
      fill(store, 100);
      for (let i = 0; i < 100; i++) { store.writer('other').setInt(0, 2_000_000 + i); store.commit('other'); }
      store.configure('tiny', { maxBytes: 10 });
      const [tinyStats, other] = store.stats();
      assert.ok(tinyStats!.rowsExpiredBy.bytes > 0);
      assert.ok(tinyStats!.rowsExpiredBy.total + other!.rowsExpiredBy.total > 0, 'the total budget expired some rows');
      fill(store, 8, 100);
      assert.equal(store.stats()[0]!.rowsDroppedBy.batch_over_budget, 8);
      for (const t of store.stats()) {
        assert.equal(t.rowsExpired, Object.values(t.rowsExpiredBy).reduce((a, b) => a + b, 0));
        assert.equal(t.rows + t.rowsExpired + t.rowsDropped, t.rowsAdded);
      }
    });

    it('returns a table to the default budgets when configured without them', () => {
      const store = new TableStore({ totalBudgetBytes: 1 << 20 });
      store.register(tiny, { maxBytes: 100, maxAgeNs: 5n });
      store.configure('tiny', {});
      assert.equal(store.stats()[0]!.maxBytes, 1 << 20);
      assert.equal(store.stats()[0]!.maxAgeNs, 0n);
    });
  });

  describe('subscribers and removal', () => {
    it('hands every sealed batch to subscribers, including one too large to keep', () => {
      const store = new TableStore({ batchRows: 4 });
      store.register(tiny, { maxBytes: 10 });
      let rows = 0;
      const unsubscribe = store.subscribe('tiny', (sealed) => { rows += sealed.rows; });
      fill(store, 6);
      store.flush('tiny');
      assert.equal(rows, 6);
      assert.equal(store.stats()[0]!.rowsDropped, 6);
      unsubscribe();
      fill(store, 4, 6);
      assert.equal(rows, 6);
    });

    it('removes a table and reports its rows as expired with reason removed', () => {
      const store = new TableStore({ batchRows: 4 });
      store.register(tiny);
      fill(store, 6);
      const stats = store.unregister('tiny');
      assert.equal(stats.rowsExpiredBy.removed, 6);
      assert.equal(store.getTable('tiny'), undefined);
      assert.equal(store.totalBytes(), 0);
    });
  });

  it('stores http_events with the declared schema', () => {
    const store = new TableStore();
    store.register(httpEvents);
    const clock = new EpochClock();
    const parts = { hi: 0, lo: 0 };
    const mono = EpochClock.monotonicNs();
    clock.toEpochParts(mono, parts);
    const w = store.writer('http_events');
    w.setInt64Parts(0, parts.hi, parts.lo);
    w.setString(1, '00000001-0000-0001-0000-000000000002');
    store.commit('http_events');
    const [batch] = store.scan('http_events', 0n, 1n << 62n);
    assert.equal(batch!.schema.fields.map((f) => f.name).join(','), httpEvents.columns.map((c) => c.name).join(','));
    assert.equal((batch!.getChild('time_')!.data[0]!.values as BigInt64Array)[0], clock.toEpochNs(mono));
  });
});
