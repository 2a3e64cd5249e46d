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

export const TDIGEST_COMPRESSION = 100;
/** Centroids kept unmerged (exact) below this many. */
const EXACT_CENTROIDS = 2 * TDIGEST_COMPRESSION;
const BUFFER_POINTS = 512;

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
let scratchMeans = new Float64Array(2 * BUFFER_POINTS);
let scratchWeights = new Float64Array(2 * BUFFER_POINTS);

export class TDigest {
  #means = new Float64Array(16);
  #weights = new Float64Array(16);
  #size = 0;
  /** Points and centroids not merged yet (unsorted). */
  #pendingMeans = new Float64Array(BUFFER_POINTS);
  #pendingWeights = new Float64Array(BUFFER_POINTS);
  #pending = 0;
  /** Whether every pending weight is 1 (single points): #compress sorts them natively and merges. */
  #pendingUnit = true;
  #min = Infinity;
  #max = -Infinity;
  #total = 0;

  get count(): number {
    return this.#total;
  }

  add(value: number, weight = 1): void {
    if (Number.isNaN(value)) return;
    if (this.#pending === this.#pendingMeans.length) this.#compress();
    this.#pendingMeans[this.#pending] = value;
    this.#pendingWeights[this.#pending] = weight;
    if (weight !== 1) this.#pendingUnit = false;
    this.#pending++;
    this.#total += weight;
    if (value < this.#min) this.#min = value;
    if (value > this.#max) this.#max = value;
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
   * points natively (no comparator) and merges them with the centroids,
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
    const points = this.#pendingMeans.subarray(0, pending).sort();
    this.#pending = 0;
    const n = size + pending;
    if (scratchMeans.length < n) {
      scratchMeans = new Float64Array(n * 2);
      scratchWeights = new Float64Array(n * 2);
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
