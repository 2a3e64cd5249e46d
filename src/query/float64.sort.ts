// Sorting of float64 values for the t-digest's buffered points. V8's
// Float64Array.prototype.sort spends 50-90 ns a value at the t-digest's
// buffer sizes (hundreds to thousands of values); so does an LSD radix sort
// written in JS (5-8 scatter passes). This is a one-pass distribution sort:
// each value goes to one of n buckets by where it lies between the minimum
// and the maximum, and an insertion sort finishes the (mostly one-value)
// buckets. Buckets that come out crowded (skewed data, many duplicates) are
// sorted natively, so the worst case stays the native sort's.
//
// The order is Float64Array.prototype.sort's: ascending, −0 before +0, NaN
// last.

/** Below this many values the native sort is as fast as the bucket passes. */
const NATIVE_BELOW = 48;
/** Buckets holding more than this many values are sorted natively (insertion sort is quadratic). */
const INSERTION_MAX = 24;

/** Scratch buffers, shared (single-threaded, never re-entered). */
let spread = new Float64Array(1024);
let bucketOf = new Int32Array(1024);
let ends = new Int32Array(1025);

/** Sorts the first `n` values of `values` in place (ascending, −0 before +0, NaN last). */
export function sortFloat64(values: Float64Array, n: number = values.length): void {
  if (n < NATIVE_BELOW) {
    if (n > 1) values.subarray(0, n).sort();
    return;
  }
  // NaNs to the end; the range of the rest; whether there is a −0 (the buckets do not order ±0).
  let min = Infinity;
  let max = -Infinity;
  let kept = 0;
  let negativeZero = false;
  for (let i = 0; i < n; i++) {
    const v = values[i] as number;
    if (v !== v) continue;
    if (v < min) min = v;
    if (v > max) max = v;
    if (v === 0 && 1 / v < 0) negativeZero = true;
    values[kept++] = v;
  }
  for (let i = kept; i < n; i++) values[i] = NaN;
  const range = max - min;
  if (kept < NATIVE_BELOW || !Number.isFinite(range)) {
    // Few values, or infinities (or a range past the largest float): no usable bucket width.
    values.subarray(0, kept).sort();
    return;
  }
  // All equal needs no bucket pass, but ±0 still need ordering.
  if (range !== 0) distribute(values, kept, min, range);
  if (negativeZero) orderZeros(values, kept);
}

/** Sorts values[0, n) (no NaN, finite range > 0) by bucket, then insertion. */
function distribute(values: Float64Array, n: number, min: number, range: number): void {
  if (spread.length < n) {
    spread = new Float64Array(2 * n);
    bucketOf = new Int32Array(2 * n);
    ends = new Int32Array(2 * n + 1);
  }
  const buckets = n;
  const scale = buckets / range;
  const last = buckets - 1;
  const out = spread;
  const of = bucketOf;
  const bucketEnds = ends;
  bucketEnds.fill(0, 0, buckets + 1);
  for (let i = 0; i < n; i++) {
    // Non-negative and below 2^31: truncation is the floor.
    let b = (((values[i] as number) - min) * scale) | 0;
    if (b > last) b = last; // the maximum, and rounding
    of[i] = b;
    bucketEnds[b + 1] = (bucketEnds[b + 1] as number) + 1;
  }
  for (let b = 1; b <= buckets; b++) bucketEnds[b] = (bucketEnds[b] as number) + (bucketEnds[b - 1] as number);
  // Scatter: bucketEnds[b] moves from bucket b's start to its end (= bucket b + 1's start).
  for (let i = 0; i < n; i++) {
    const b = of[i] as number;
    const to = bucketEnds[b] as number;
    out[to] = values[i] as number;
    bucketEnds[b] = to + 1;
  }
  // Crowded buckets natively; then one insertion pass, which only moves values within their bucket.
  let start = 0;
  for (let b = 0; b < buckets; b++) {
    const end = bucketEnds[b] as number;
    if (end - start > INSERTION_MAX) out.subarray(start, end).sort();
    start = end;
  }
  values[0] = out[0] as number;
  for (let i = 1; i < n; i++) {
    const v = out[i] as number;
    let j = i - 1;
    while (j >= 0 && (values[j] as number) > v) {
      values[j + 1] = values[j] as number;
      j--;
    }
    values[j + 1] = v;
  }
}

/** The zeros of sorted values[0, n) rewritten −0s first (the insertion sort treats −0 and +0 as equal). */
function orderZeros(values: Float64Array, n: number): void {
  let first = 0;
  while (first < n && (values[first] as number) < 0) first++;
  let end = first;
  let negatives = 0;
  while (end < n && values[end] === 0) {
    if (1 / (values[end] as number) < 0) negatives++;
    end++;
  }
  values.fill(-0, first, first + negatives);
  values.fill(0, first + negatives, end);
}
