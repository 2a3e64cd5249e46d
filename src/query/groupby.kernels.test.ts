// The groupby fast paths: batch t-digest adds, group runs, the pair cache
// and selections in GroupTable, the BigInt-free bin and int64 compare
// kernels, and filter → map → groupby reading the filter's selection.
import assert from 'node:assert/strict';
import { GroupRuns } from './aggregate.executor.ts';
import { httpRow, makeBatch, MemoryTableSource, type Row } from './arrow-batches.test-helper.ts';
import { kernelFor } from './function.registry.ts';
import { GroupTable } from './group.table.ts';
import { compileScript, executeLocal, resultToJson } from './index.ts';
import { DEFAULT_KERNEL_CONTEXT } from './metadata.ts';
import { TDigest } from './tdigest.ts';
import type { BigIntVector, BoolVector } from './vector.ts';

function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function int64Vector(values: readonly bigint[]): BigIntVector {
  return { storage: 'bigint', type: 'int64', length: values.length, values: BigInt64Array.from(values) };
}

describe('groupby kernels', () => {
  describe('TDigest.addRows', () => {
    it('gives the digest that adding the same rows one by one gives, NaN skipped', () => {
      const random = lcg(7);
      const values = Float64Array.from({ length: 20_000 }, (_v, i) => (i % 97 === 0 ? NaN : random() * 1e6));
      const rows = Int32Array.from({ length: values.length }, (_v, i) => (i * 7919) % values.length);
      const batched = new TDigest();
      const single = new TDigest();
      for (let from = 0; from < rows.length; from += 333) batched.addRows(values, rows, from, Math.min(rows.length, from + 333));
      for (const row of rows) single.add(values[row] as number);
      assert.equal(batched.count, values.length - Math.ceil(values.length / 97));
      assert.equal(batched.count, single.count);
      assert.equal(batched.serialize(), single.serialize());
      assert.equal(batched.quantilesJson(), single.quantilesJson());
    });

    it('answers NaN when empty (even after only NaNs), the value for one point, exact quantiles for a small group', () => {
      const digest = new TDigest();
      assert.ok(Number.isNaN(digest.quantile(0.5)));
      digest.addRows(Float64Array.of(NaN, NaN), Int32Array.of(0, 1), 0, 2);
      assert.equal(digest.count, 0);
      assert.ok(Number.isNaN(digest.quantile(0.5)));
      digest.addRows(Float64Array.of(42), Int32Array.of(0), 0, 1);
      assert.equal(digest.quantile(0.01), 42);
      assert.equal(digest.quantile(0.99), 42);
      const small = new TDigest();
      const values = Float64Array.from({ length: 101 }, (_v, i) => 100 - i);
      small.addRows(values, Int32Array.from({ length: 101 }, (_v, i) => i), 0, 101);
      assert.equal(small.quantile(0.5), 50);
    });

    it('mixes weighted adds (merges) with point batches, and stays within 1 % over 1 000 000 points in 1 200 groups merged from 3 nodes', () => {
      const groups = 1200;
      const nodes = [0, 1, 2].map(() => Array.from({ length: groups }, () => new TDigest()));
      const whole = Array.from({ length: groups }, () => new TDigest());
      const chunk = 4096;
      const values = new Float64Array(chunk);
      const rows = new Int32Array(chunk);
      for (let start = 0; start < 1_000_000; start += chunk) {
        const g = (start / chunk) % groups;
        for (let i = 0; i < chunk; i++) {
          values[i] = (Math.imul(start + i, 0x9e3779b1) >>> 0) % 100_000;
          rows[i] = i;
        }
        (whole[g] as TDigest).addRows(values, rows, 0, chunk);
        for (let k = 0; k < 3; k++) ((nodes[k] as TDigest[])[g] as TDigest).addRows(values, rows, Math.floor((k * chunk) / 3), Math.floor(((k + 1) * chunk) / 3));
      }
      let checked = 0;
      for (let g = 0; g < groups; g++) {
        const merged = new TDigest();
        for (const node of nodes) merged.merge(TDigest.deserialize((node[g] as TDigest).serialize()));
        assert.equal(merged.count, (whole[g] as TDigest).count);
        if (merged.count < 4096) continue;
        checked++;
        for (const q of [0.01, 0.1, 0.5, 0.9, 0.99]) {
          assert.ok(Math.abs((whole[g] as TDigest).quantile(q) - q * 100_000) < 1000, `whole group ${g} p${q}`);
          assert.ok(Math.abs(merged.quantile(q) - q * 100_000) < 1000, `merged group ${g} p${q}`);
        }
      }
      assert.ok(checked > 100);
    });
  });

  describe('GroupRuns', () => {
    it('orders a chunk\'s rows by group, groups in order of first appearance, and resets between chunks', () => {
      const runs = new GroupRuns();
      runs.build(Int32Array.of(2, 0, 2, 5, 0, 2), 6, 6);
      assert.deepEqual([...runs.touched.subarray(0, runs.touchedCount)], [2, 0, 5]);
      assert.deepEqual([...runs.starts.subarray(0, runs.touchedCount + 1)], [0, 3, 5, 6]);
      assert.deepEqual([...runs.rows.subarray(0, 6)], [0, 2, 5, 1, 4, 3]);
      runs.build(Int32Array.of(1), 1, 6);
      assert.deepEqual([...runs.touched.subarray(0, runs.touchedCount)], [1]);
      assert.deepEqual([...runs.starts.subarray(0, 2)], [0, 1]);
      runs.build(new Int32Array(0), 0, 6);
      assert.equal(runs.touchedCount, 0);
    });

    it('handles many groups, each with one row', () => {
      const runs = new GroupRuns();
      const n = 100_000;
      const groups = Int32Array.from({ length: n }, (_v, i) => n - 1 - i);
      runs.build(groups, n, n);
      assert.equal(runs.touchedCount, n);
      for (let k = 0; k < n; k++) {
        assert.equal(runs.starts[k], k);
        assert.equal(groups[runs.rows[k] as number], runs.touched[k]);
      }
    });
  });

  describe('GroupTable', () => {
    /** Group ids by a Map over the joined key values, in order of first appearance (the reference). */
    function reference(keys: readonly (readonly bigint[])[], length: number): number[] {
      const ids = new Map<string, number>();
      const out: number[] = [];
      for (let i = 0; i < length; i++) {
        const key = keys.map((k) => String(k[i])).join('|');
        let id = ids.get(key);
        if (id === undefined) ids.set(key, (id = ids.size));
        out.push(id);
      }
      return out;
    }

    it('assigns the same groups as a reference over interleaved, run-length and changing keys, chunk by chunk', () => {
      const random = lcg(3);
      const table = new GroupTable(['int64', 'time64ns', 'int64']);
      const all: bigint[][] = [[], [], []];
      const got: number[] = [];
      for (let chunk = 0; chunk < 20; chunk++) {
        const n = 1 + Math.floor(random() * 3000);
        const a: bigint[] = [];
        const b: bigint[] = [];
        const c: bigint[] = [];
        for (let i = 0; i < n; i++) {
          a.push(BigInt(Math.floor(random() * 30)) - 10n);
          b.push(BigInt(chunk >> 2) * 10_000_000_000n + (random() < 0.02 ? 1n : 0n));
          c.push(random() < 0.5 ? INT64_MIN : INT64_MAX);
        }
        const groups = table.assign([int64Vector(a), { ...int64Vector(b), type: 'time64ns' }, int64Vector(c)], n);
        got.push(...groups);
        all[0]!.push(...a);
        all[1]!.push(...b);
        all[2]!.push(...c);
      }
      assert.deepEqual(got, reference(all, got.length));
      assert.equal(table.count, Math.max(...got) + 1);
      const keys = table.keyVectors() as BigIntVector[];
      const first = new Map<number, number>();
      got.forEach((g, i) => { if (!first.has(g)) first.set(g, i); });
      for (const [g, i] of first) for (let c = 0; c < 3; c++) assert.equal(keys[c]!.values[g], all[c]![i]);
    });

    it('groups more prefixes than the pair cache holds', () => {
      const n = 70_000;
      const a = Array.from({ length: n }, (_v, i) => BigInt(i));
      const b = Array.from({ length: n }, () => 5n);
      const table = new GroupTable(['int64', 'int64']);
      const first = [...table.assign([int64Vector(a), int64Vector(b)], n)];
      const again = [...table.assign([int64Vector(a.slice().reverse()), int64Vector(b)], n)];
      assert.deepEqual(first, Array.from({ length: n }, (_v, i) => i));
      assert.deepEqual(again, Array.from({ length: n }, (_v, i) => n - 1 - i));
    });

    it('numbers the groups of one key column by the selected rows only (ids first seen in unselected rows skipped)', () => {
      const values = [9n, 4n, 9n, 7n, 4n, 8n];
      const rows = Int32Array.of(1, 3, 4);
      const table = new GroupTable(['int64']);
      assert.deepEqual([...table.assign([int64Vector(values)], rows.length, { rows, of: values.length })], [0, 1, 0]);
      assert.equal(table.count, 2);
      assert.deepEqual([...(table.keyVectors()[0] as BigIntVector).values], [4n, 7n]);
    });

    it('groups only the selected rows of a selection, as if they had been gathered', () => {
      const random = lcg(11);
      const n = 5000;
      const a = Array.from({ length: n }, () => BigInt(Math.floor(random() * 7)));
      const b = Array.from({ length: n }, (_v, i) => BigInt(i >> 9));
      const rows = Int32Array.from([...Array(n).keys()].filter(() => random() < 0.6));
      const selected = new GroupTable(['int64', 'int64']).assign([int64Vector(a), int64Vector(b)], rows.length, { rows, of: n });
      const gathered = new GroupTable(['int64', 'int64']).assign([int64Vector([...rows].map((r) => a[r]!)), int64Vector([...rows].map((r) => b[r]!))], rows.length);
      assert.deepEqual([...selected], [...gathered]);
      const none = new GroupTable(['int64']).assign([int64Vector(a)], 0, { rows: new Int32Array(0), of: n });
      assert.equal(none.length, 0);
    });
  });

  describe('int64 kernels without BigInt arithmetic per row', () => {
    const random = lcg(5);
    const samples: bigint[] = [0n, -1n, 1n, INT64_MIN, INT64_MAX, INT64_MIN + 1n, INT64_MAX - 1n, 2n ** 32n, -(2n ** 32n), 2n ** 31n, -(2n ** 31n) - 1n];
    for (let i = 0; i < 3000; i++) {
      const hi = BigInt(Math.floor(random() * 2 ** 32)) - 2n ** 31n;
      const lo = BigInt(Math.floor(random() * 2 ** 32));
      samples.push(i % 3 === 0 ? BigInt(Math.floor(random() * 2000)) - 1000n : BigInt.asIntN(64, (hi << 32n) | lo));
    }
    // Sorted runs as times are, and unsorted values.
    const inputs = [samples, [...samples].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))];

    it('bins like BigInt arithmetic for any int64 and size, sorted or not', () => {
      const { kernel } = kernelFor('bin', ['int64', 'int64']);
      for (const size of [1n, 7n, 100n, 10_000_000_000n, 2n ** 40n + 3n, INT64_MAX, -5n, 0n]) {
        for (const values of inputs) {
          const out = kernel([int64Vector(values), { storage: 'scalar', type: 'int64', value: size }], values.length, 'int64', DEFAULT_KERNEL_CONTEXT) as BigIntVector;
          values.forEach((v, i) => {
            const r = size <= 0n ? 0n : v % size;
            const expected = size <= 0n ? v : BigInt.asIntN(64, r < 0n ? v - r - size : v - r);
            assert.equal(out.values[i], expected, `bin(${v}, ${size})`);
          });
        }
      }
    });

    it('compares int64 columns with a literal like BigInt comparison, also literals past int64', () => {
      const ops: [string, (a: bigint, b: bigint) => boolean][] = [
        ['equal', (a, b) => a === b], ['notEqual', (a, b) => a !== b], ['less', (a, b) => a < b],
        ['lessEqual', (a, b) => a <= b], ['greater', (a, b) => a > b], ['greaterEqual', (a, b) => a >= b],
      ];
      for (const [name, holds] of ops) {
        const { kernel } = kernelFor(name, ['int64', 'int64']);
        for (const literal of [0n, 500n, -1n, 2n ** 32n, -(2n ** 32n) + 5n, INT64_MIN, INT64_MAX, samples[20]!, 2n ** 70n, -(2n ** 70n)]) {
          const out = kernel([int64Vector(samples), { storage: 'scalar', type: 'int64', value: literal }], samples.length, 'boolean', DEFAULT_KERNEL_CONTEXT) as BoolVector;
          samples.forEach((v, i) => assert.equal(out.values[i], holds(v, literal) ? 1 : 0, `${v} ${name} ${literal}`));
          const flipped = kernel([{ storage: 'scalar', type: 'int64', value: literal }, int64Vector(samples)], samples.length, 'boolean', DEFAULT_KERNEL_CONTEXT) as BoolVector;
          samples.forEach((v, i) => assert.equal(flipped.values[i], holds(literal, v) ? 1 : 0, `${literal} ${name} ${v}`));
        }
      }
    });
  });

  describe('filter → map → groupby over the filter\'s selection', () => {
    const random = lcg(9);
    const rows: Row[] = [];
    for (let i = 0; i < 6000; i++) {
      rows.push(httpRow({
        time_: BigInt(i) * 7_000_000n, req_method: ['GET', 'POST', 'PUT'][i % 3]!, resp_status: BigInt([200, 404, 500][Math.floor(random() * 3)]!),
        latency: BigInt(Math.floor(random() * 1e6)), req_path: `/p${Math.floor(random() * 4)}`, encrypted: random() < 0.5,
      }));
    }
    const aggregates = `df.window = px.bin(df.time_, px.seconds(10))
df = df.groupby(['req_method', 'window']).agg(n=('latency', px.count), total=('latency', px.sum), avg=('latency', px.mean),
  lo=('latency', px.min), hi=('latency', px.max), q=('latency', px.quantiles), any=('req_path', px.any), enc=('encrypted', px.mean))
px.display(df)`;
    const batches = (kept: readonly Row[]): MemoryTableSource => {
      const out = [];
      for (let i = 0; i < kept.length; i += 700) out.push(makeBatch(kept.slice(i, i + 700)));
      return new MemoryTableSource({ http_events: out });
    };

    const header = "import px\ndf = px.DataFrame('http_events', start_time=0)\n";

    // 2/3 of the rows kept: the map computes on all rows under the selection; 1/3: the map gathers first.
    for (const [predicate, keeps] of [['df.resp_status < 500', (s: bigint) => s < 500n], ['df.resp_status == 500', (s: bigint) => s === 500n]] as const) {
      it(`equals the same groupby over rows filtered before the query (${predicate})`, () => {
        const all = batches(rows);
        const filtered = resultToJson(executeLocal(compileScript(`${header}df = df[${predicate}]\n${aggregates}`, all, { nowNs: 10n ** 12n }), all));
        const before = batches(rows.filter((r) => keeps(r.resp_status as bigint)));
        const direct = resultToJson(executeLocal(compileScript(`${header}${aggregates}`, before, { nowNs: 10n ** 12n }), before));
        assert.ok((direct.outputs[0]?.rows.length ?? 0) > 10);
        assert.deepEqual(filtered.outputs[0]?.rows, direct.outputs[0]?.rows);
      });
    }

    it('equals it with one string key whose values first appear in filtered-out rows', () => {
      // /p0 … /p3 appear in rows of every status; the first rows of the first batch are 500s.
      const skewed = [...rows.filter((r) => r.resp_status === 500n).slice(0, 50), ...rows];
      const script = `df = df.groupby('req_path').agg(n=('latency', px.count), q=('latency', px.quantiles))\npx.display(df)`;
      const all = batches(skewed);
      const filtered = resultToJson(executeLocal(compileScript(`${header}df = df[df.resp_status < 500]\n${script}`, all, { nowNs: 10n ** 12n }), all));
      const keptSkewed = skewed.filter((r) => (r.resp_status as bigint) < 500n);
      const direct = resultToJson(executeLocal(compileScript(`${header}${script}`, batches(keptSkewed), { nowNs: 10n ** 12n }), batches(keptSkewed)));
      assert.equal(direct.outputs[0]?.rows.length, 4);
      assert.deepEqual(filtered.outputs[0]?.rows, direct.outputs[0]?.rows);
    });
  });
});
