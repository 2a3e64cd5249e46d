// A compact merging t-digest (Dunning, "Computing extremely accurate
// quantiles using t-digests"), the state behind px.quantiles. Centroids live
// in typed arrays; points are buffered and merged in sorted passes. Digests
// merge (node partials → caller), which is what makes quantiles splittable
// across fragments.
//
// Up to EXACT_CENTROIDS points no centroid is ever merged, so small groups
// get exact quantiles, and digests of disjoint parts merge into exactly the
// digest of the whole (the fragment split changes no result). Beyond that the
// k1 scale function bounds centroid sizes (compression 100: ~1 % error in
// the middle, much less at the tails).
import { sortFloat64 } from './float64.sort.ts';

export const TDIGEST_COMPRESSION = 100;
/** Centroids kept unmerged (exact) below this many. */
const EXACT_CENTROIDS = 2 * TDIGEST_COMPRESSION;
/**
 * The point buffer is allocated on the first add (MIN_BUFFER points) and a
 * full one grows 4×, instead of compressing, up to MAX_BUFFER: a small group
 * holds little memory (thousands of groups are common), and a large one
 * compresses once every MAX_BUFFER points, so the merge pass over its ~100
 * centroids and the sort's fixed costs are spread over many points.
 */
const MIN_BUFFER = 32;
const MAX_BUFFER = 2048;
/** The buffer of a digest that has never been added to (no allocation per group). */
const NO_POINTS = new Float64Array(0);

/** The quantiles px.quantiles reports, with Pixie's key names. */
export const REPORTED_QUANTILES: readonly (readonly [string, number])[] = Object.freeze([
  ['p01', 0.01], ['p10', 0.1], ['p25', 0.25], ['p50', 0.5], ['p75', 0.75], ['p90', 0.9], ['p99', 0.99],
] as const);

function k1(q: number): number {
  return (TDIGEST_COMPRESSION / (2 * Math.PI)) * Math.asin(2 * q - 1);
}

/** The q where k1(q) = kLeft + 1 (1 when k1 never gets there): the inverse of k1. */
function k1Limit(kLeft: number): number {
  const angle = ((kLeft + 1) * 2 * Math.PI) / TDIGEST_COMPRESSION;
  return angle >= Math.PI / 2 ? 1 : (Math.sin(angle) + 1) / 2;
}

/** Shared merge buffers of #compressPoints (single-threaded, never re-entered). */
let scratchMeans = new Float64Array(2 * MAX_BUFFER);
let scratchWeights = new Float64Array(2 * MAX_BUFFER);

function grow(array: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> {
  const grown = new Float64Array(Math.max(64, 2 * array.length));
  grown.set(array);
  return grown;
}

export class TDigest {
  /** Centroids, sorted by (mean, weight); allocated on the first compression. */
  #means = NO_POINTS;
  #weights = NO_POINTS;
  #size = 0;
  /** Points and centroids not merged yet (unsorted); #pendingWeights only once a weight other than 1 was added. */
  #pendingMeans = NO_POINTS;
  #pendingWeights = NO_POINTS;
  #pending = 0;
  /** Whether every pending weight is 1 (single points): #compress sorts them (float64.sort.ts) and merges. */
  #pendingUnit = true;
  #min = Infinity;
  #max = -Infinity;
  #total = 0;

  get count(): number {
    return this.#total;
  }

  add(value: number, weight = 1): void {
    if (Number.isNaN(value)) return;
    if (this.#pending === this.#pendingMeans.length) this.#makeRoom();
    if (weight !== 1 && this.#pendingUnit) this.#weighted();
    this.#pendingMeans[this.#pending] = value;
    if (!this.#pendingUnit) this.#pendingWeights[this.#pending] = weight;
    this.#pending++;
    this.#total += weight;
    if (value < this.#min) this.#min = value;
    if (value > this.#max) this.#max = value;
  }

  /**
   * Adds values[rows[i]] for from <= i < to as single points (NaN skipped):
   * the aggregate's batch path, one call per group and chunk instead of one
   * per row.
   */
  addRows(values: Float64Array, rows: Int32Array, from: number, to: number): void {
    let min = this.#min;
    let max = this.#max;
    let i = from;
    while (i < to) {
      if (this.#pending === this.#pendingMeans.length) this.#makeRoom();
      const buffer = this.#pendingMeans;
      const weights = this.#pendingWeights;
      const unit = this.#pendingUnit;
      let pending = this.#pending;
      const end = Math.min(to, i + buffer.length - pending);
      for (; i < end; i++) {
        const value = values[rows[i] as number] as number;
        if (value !== value) continue; // NaN
        if (!unit) weights[pending] = 1;
        buffer[pending++] = value;
        if (value < min) min = value;
        if (value > max) max = value;
      }
      // Counted before the next #makeRoom: its compression scales by the total.
      this.#total += pending - this.#pending;
      this.#pending = pending;
    }
    this.#min = min;
    this.#max = max;
  }

  /** A full buffer: grown 4× up to MAX_BUFFER (a digest holds at most about 4× its points), else compressed. */
  #makeRoom(): void {
    const capacity = this.#pendingMeans.length;
    if (capacity >= MAX_BUFFER) {
      this.#compress();
      return;
    }
    const grown = new Float64Array(Math.min(MAX_BUFFER, Math.max(MIN_BUFFER, 4 * capacity)));
    grown.set(this.#pendingMeans.subarray(0, this.#pending));
    this.#pendingMeans = grown;
    if (!this.#pendingUnit) {
      const weights = new Float64Array(grown.length);
      weights.set(this.#pendingWeights.subarray(0, this.#pending));
      this.#pendingWeights = weights;
    }
  }

  /** The first weight other than 1: pending weights are kept from now until the next #compress. */
  #weighted(): void {
    this.#pendingUnit = false;
    if (this.#pendingWeights.length < this.#pendingMeans.length) this.#pendingWeights = new Float64Array(this.#pendingMeans.length);
    this.#pendingWeights.fill(1, 0, this.#pending);
  }

  /** Adds every centroid of `other` (which is left unchanged). */
  merge(other: TDigest): void {
    other.#compress();
    for (let i = 0; i < other.#size; i++) this.add(other.#means[i] as number, other.#weights[i] as number);
    if (other.#min < this.#min) this.#min = other.#min;
    if (other.#max > this.#max) this.#max = other.#max;
  }

  #compress(): void {
    if (this.#pending === 0) return;
    if (this.#pendingUnit && this.#compressPoints()) return;
    if (this.#pendingUnit) this.#weighted();
    this.#pendingUnit = true;
    const n = this.#size + this.#pending;
    const means = new Float64Array(n);
    const weights = new Float64Array(n);
    means.set(this.#means.subarray(0, this.#size));
    weights.set(this.#weights.subarray(0, this.#size));
    means.set(this.#pendingMeans.subarray(0, this.#pending), this.#size);
    weights.set(this.#pendingWeights.subarray(0, this.#pending), this.#size);
    this.#pending = 0;
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    // Ties broken by weight so the result does not depend on arrival order.
    order.sort((a, b) => (means[a] as number) - (means[b] as number) || (weights[a] as number) - (weights[b] as number));
    const sortedMeans = new Float64Array(n);
    const sortedWeights = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      sortedMeans[i] = means[order[i] as number] as number;
      sortedWeights[i] = weights[order[i] as number] as number;
    }
    this.#means = new Float64Array(Math.max(n, 16));
    this.#weights = new Float64Array(Math.max(n, 16));
    this.#mergeSorted(sortedMeans, sortedWeights, n);
  }

  /**
   * The fast #compress when every pending entry is a single point: sorts the
   * points (radix, float64.sort.ts) and merges them with the centroids,
   * which are kept sorted. The result is the one the general path gives
   * (same order, ties by weight), checked: false when the centroids are not
   * in (mean, weight) order, and the general path runs instead.
   */
  #compressPoints(): boolean {
    const size = this.#size;
    const means = this.#means;
    const weights = this.#weights;
    for (let i = 1; i < size; i++) {
      const a = means[i - 1] as number;
      const b = means[i] as number;
      if (!(a < b || (a === b && (weights[i - 1] as number) <= (weights[i] as number)))) return false;
    }
    const pending = this.#pending;
    const points = this.#pendingMeans;
    sortFloat64(points, pending);
    this.#pending = 0;
    const n = size + pending;
    if (scratchMeans.length < n) {
      scratchMeans = new Float64Array(n * 2);
      scratchWeights = new Float64Array(n * 2);
    }
    if (n > EXACT_CENTROIDS) {
      // The centroids move to the scratch and the merged ones are written over them.
      scratchMeans.set(means.subarray(0, size));
      scratchWeights.set(weights.subarray(0, size));
      this.#mergePoints(points, pending, scratchMeans, scratchWeights, size);
      return true;
    }
    const sortedMeans = scratchMeans;
    const sortedWeights = scratchWeights;
    // Merge: a point (weight 1) goes before a centroid of equal mean and weight >= 1.
    let c = 0;
    let p = 0;
    let at = 0;
    while (c < size && p < pending) {
      const point = points[p] as number;
      const mean = means[c] as number;
      if (point < mean || (point === mean && (weights[c] as number) >= 1)) {
        sortedMeans[at] = point;
        sortedWeights[at++] = 1;
        p++;
      } else {
        sortedMeans[at] = mean;
        sortedWeights[at++] = weights[c++] as number;
      }
    }
    while (p < pending) {
      sortedMeans[at] = points[p++] as number;
      sortedWeights[at++] = 1;
    }
    while (c < size) {
      sortedMeans[at] = means[c] as number;
      sortedWeights[at++] = weights[c++] as number;
    }
    if (means.length < n) {
      this.#means = new Float64Array(Math.max(n, 2 * means.length));
      this.#weights = new Float64Array(Math.max(n, 2 * means.length));
    }
    this.#mergeSorted(sortedMeans, sortedWeights, n);
    return true;
  }

  /**
   * #mergeSorted of the sorted points (weight 1) and the sorted centroids
   * `centroidMeans`/`centroidWeights` (not #means) interleaved in (mean,
   * weight) order, read from both directly instead of from a merged copy;
   * more than EXACT_CENTROIDS entries in all. Entry for entry the same
   * arithmetic as #mergeSorted, so the same centroids.
   */
  #mergePoints(points: Float64Array, pending: number, centroidMeans: Float64Array, centroidWeights: Float64Array, size: number): void {
    let outMeans = this.#means;
    let outWeights = this.#weights;
    const total = this.#total;
    const n = size + pending;
    let out = 0;
    let c = 0;
    let p = 0;
    let mean: number;
    let weight: number;
    // A point goes before a centroid of equal mean and weight >= 1.
    if (p < pending && (c >= size || (points[p] as number) < (centroidMeans[c] as number) || ((points[p] as number) === (centroidMeans[c] as number) && (centroidWeights[c] as number) >= 1))) {
      mean = points[p++] as number;
      weight = 1;
    } else {
      mean = centroidMeans[c] as number;
      weight = centroidWeights[c++] as number;
    }
    let weightSoFar = 0;
    let kLeft = k1(0);
    let qLimit = k1Limit(kLeft);
    // q < qLimit − 1e-9 tested as a weight (no division); the rare sums it does not settle take #mergeSorted's full test.
    let weightLimit = (qLimit - 1e-9) * total;
    for (let i = 1; i < n; i++) {
      let x: number;
      let w: number;
      if (p < pending && (c >= size || (points[p] as number) < (centroidMeans[c] as number) || ((points[p] as number) === (centroidMeans[c] as number) && (centroidWeights[c] as number) >= 1))) {
        x = points[p++] as number;
        w = 1;
      } else {
        x = centroidMeans[c] as number;
        w = centroidWeights[c++] as number;
      }
      const sum = weightSoFar + weight + w;
      let merge = sum < weightLimit;
      if (!merge) {
        const q = Math.min(1, sum / total);
        merge = q < qLimit - 1e-9 || (q <= qLimit + 1e-9 && k1(q) - kLeft <= 1);
      }
      if (merge) {
        weight += w;
        mean += (x - mean) * (w / weight);
      } else {
        if (out === outMeans.length) {
          outMeans = grow(outMeans);
          outWeights = grow(outWeights);
        }
        outMeans[out] = mean;
        outWeights[out] = weight;
        out++;
        weightSoFar += weight;
        kLeft = k1(Math.min(1, weightSoFar / total));
        qLimit = k1Limit(kLeft);
        weightLimit = (qLimit - 1e-9) * total;
        mean = x;
        weight = w;
      }
    }
    if (out === outMeans.length) {
      outMeans = grow(outMeans);
      outWeights = grow(outWeights);
    }
    outMeans[out] = mean;
    outWeights[out] = weight;
    this.#means = outMeans;
    this.#weights = outWeights;
    this.#size = out + 1;
  }

  /** Sets the centroids from `n` entries sorted by (mean, weight): all of them up to EXACT_CENTROIDS, else merged under k1. #means and #weights must hold n. */
  #mergeSorted(means: Float64Array, weights: Float64Array, n: number): void {
    const outMeans = this.#means;
    const outWeights = this.#weights;
    if (n <= EXACT_CENTROIDS) {
      outMeans.set(means.subarray(0, n));
      outWeights.set(weights.subarray(0, n));
      this.#size = n;
      return;
    }
    const total = this.#total;
    let size = 0;
    let mean = means[0] as number;
    let weight = weights[0] as number;
    let weightSoFar = 0;
    let kLeft = k1(0);
    let qLimit = k1Limit(kLeft);
    for (let i = 1; i < n; i++) {
      const w = weights[i] as number;
      const q = Math.min(1, (weightSoFar + weight + w) / total);
      // k1(q) − kLeft <= 1 decided without asin away from the limit (k1 is steep: |q − qLimit| > 1e-9 puts k1 > 3e-8 off, far beyond its rounding error).
      if (q < qLimit - 1e-9 || (q <= qLimit + 1e-9 && k1(q) - kLeft <= 1)) {
        weight += w;
        mean += ((means[i] as number) - mean) * (w / weight);
      } else {
        outMeans[size] = mean;
        outWeights[size] = weight;
        size++;
        weightSoFar += weight;
        kLeft = k1(Math.min(1, weightSoFar / total));
        qLimit = k1Limit(kLeft);
        mean = means[i] as number;
        weight = w;
      }
    }
    outMeans[size] = mean;
    outWeights[size] = weight;
    size++;
    this.#size = size;
  }

  /**
   * The value at quantile q (0..1): linear interpolation between centroid
   * centres (for single points: between the sorted values, the value of
   * rank q·n − ½), clamped to the observed min and max. NaN when empty.
   */
  quantile(q: number): number {
    this.#compress();
    const n = this.#size;
    if (n === 0) return NaN;
    if (n === 1) return this.#means[0] as number;
    const target = q * this.#total;
    let cumulative = 0;
    let previousCentre = 0;
    for (let i = 0; i < n; i++) {
      const w = this.#weights[i] as number;
      const centre = cumulative + w / 2;
      if (target <= centre) {
        if (i === 0) return w === 1 ? (this.#means[0] as number) : this.#min + ((this.#means[0] as number) - this.#min) * Math.max(0, target / centre);
        const fraction = (target - previousCentre) / (centre - previousCentre);
        return (this.#means[i - 1] as number) + ((this.#means[i] as number) - (this.#means[i - 1] as number)) * fraction;
      }
      previousCentre = centre;
      cumulative += w;
    }
    const lastWeight = this.#weights[n - 1] as number;
    const lastMean = this.#means[n - 1] as number;
    if (lastWeight === 1) return lastMean;
    const fraction = Math.min(1, (target - previousCentre) / (this.#total - previousCentre));
    return lastMean + (this.#max - lastMean) * fraction;
  }

  /** Pixie's px.quantiles JSON: {"p01":…,"p10":…,"p25":…,"p50":…,"p75":…,"p90":…,"p99":…}. */
  quantilesJson(): string {
    const parts = REPORTED_QUANTILES.map(([key, q]) => {
      const value = this.quantile(q);
      return `"${key}":${Number.isFinite(value) ? String(value) : 'null'}`;
    });
    return `{${parts.join(',')}}`;
  }

  /** The state as text (base64 of [min, max, means…, weights…]), for partial aggregates. */
  serialize(): string {
    this.#compress();
    const n = this.#size;
    const packed = new Float64Array(2 + 2 * n);
    packed[0] = this.#min;
    packed[1] = this.#max;
    packed.set(this.#means.subarray(0, n), 2);
    packed.set(this.#weights.subarray(0, n), 2 + n);
    return Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength).toString('base64');
  }

  static deserialize(text: string): TDigest {
    const bytes = Buffer.from(text, 'base64');
    if (bytes.length % 8 !== 0 || bytes.length < 16) throw new Error('read t-digest: malformed state');
    const packed = new Float64Array(bytes.length / 8);
    new Uint8Array(packed.buffer).set(bytes);
    const n = (packed.length - 2) / 2;
    const digest = new TDigest();
    digest.#means = new Float64Array(Math.max(n, 16));
    digest.#weights = new Float64Array(Math.max(n, 16));
    digest.#means.set(packed.subarray(2, 2 + n));
    digest.#weights.set(packed.subarray(2 + n));
    digest.#size = n;
    let total = 0;
    for (let i = 0; i < n; i++) total += digest.#weights[i] as number;
    digest.#total = total;
    digest.#min = packed[0] as number;
    digest.#max = packed[1] as number;
    return digest;
  }
}
