import assert from 'node:assert/strict';
import { sortFloat64 } from './float64.sort.ts';

/** A deterministic generator (tests must not depend on Math.random). */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
}

/** sortFloat64 of a copy equals Float64Array.prototype.sort of another, bit for bit (Object.is tells −0 from +0). */
function assertSortsLikeNative(values: Float64Array, label: string): void {
  const ours = values.slice();
  const native = values.slice().sort();
  sortFloat64(ours);
  for (let i = 0; i < values.length; i++) {
    assert.ok(Object.is(ours[i], native[i]), `${label}: index ${i} is ${ours[i]}, native ${native[i]}`);
  }
}

describe('sortFloat64', () => {
  const random = lcg(42);
  const generators: Record<string, (i: number) => number> = {
    uniform: () => random() * 1e7,
    'integer latencies': (i) => (Math.imul(i, 0x9e3779b1) >>> 0) % 10_000_000,
    'log-normal (crowded buckets)': () => Math.exp(random() * 30),
    'five distinct values': () => Math.floor(random() * 5),
    negative: () => -random() * 1000,
    'NaN, ±0, ±Infinity and a 600-decade range': () => {
      const r = random();
      if (r < 0.05) return NaN;
      if (r < 0.1) return -0;
      if (r < 0.15) return 0;
      if (r < 0.17) return Infinity;
      if (r < 0.19) return -Infinity;
      return (random() - 0.5) * 10 ** (random() * 600 - 300);
    },
    'only ±0 and small values': () => (random() < 0.5 ? -0 : 0) + (random() < 0.5 ? 0 : random()),
    'extremes (range overflows)': (i) => (i % 2 === 0 ? -Number.MAX_VALUE : Number.MAX_VALUE) * random(),
  };

  for (const [name, generate] of Object.entries(generators)) {
    it(`orders ${name} like Float64Array.prototype.sort`, () => {
      for (const n of [0, 1, 2, 47, 48, 49, 100, 512, 2048, 5000]) {
        const values = new Float64Array(n);
        for (let i = 0; i < n; i++) values[i] = generate(i);
        assertSortsLikeNative(values, `${name}, ${n} values`);
      }
    });
  }

  it('sorts all-equal values, a single NaN among numbers, and all-NaN input', () => {
    assertSortsLikeNative(new Float64Array(300).fill(7), 'all 7');
    assertSortsLikeNative(new Float64Array(300).fill(NaN), 'all NaN');
    const one = Float64Array.from({ length: 300 }, (_v, i) => (i === 150 ? NaN : 300 - i));
    assertSortsLikeNative(one, 'one NaN');
    const zeros = Float64Array.from({ length: 300 }, (_v, i) => (i % 3 === 0 ? -0 : 0));
    assertSortsLikeNative(zeros, 'only zeros');
  });

  it('sorts only the first n values of a view and leaves the rest and the surrounding buffer alone', () => {
    const buffer = new Float64Array(1000);
    for (let i = 0; i < buffer.length; i++) buffer[i] = 1000 - i;
    const view = buffer.subarray(100, 900);
    sortFloat64(view, 500);
    for (let i = 0; i < 100; i++) assert.equal(buffer[i], 1000 - i);
    for (let i = 1; i < 500; i++) assert.ok((view[i - 1] as number) <= (view[i] as number));
    assert.deepEqual([...view.subarray(0, 500)], Array.from({ length: 500 }, (_v, i) => 401 + i));
    for (let i = 600; i < 1000; i++) assert.equal(buffer[i], 1000 - i);
  });
});
