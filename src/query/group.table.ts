// Hash grouping on typed arrays, for aggregates and joins. Each key column
// maps its values to dense column-local ids (once per dictionary entry for
// dictionary-encoded strings); the ids of several key columns are packed
// pairwise into one number key and mapped to dense group ids. Per row only
// numbers are hashed; the only objects are one per distinct key value.
import type { ColumnType } from '../tables/schema.ts';
import { gather, int64Words, LITTLE_ENDIAN, stringAt, utf8FromStrings, type Utf8Values, type Vector } from './vector.ts';

/** Growable Int32Array. */
export class IntList {
  values = new Int32Array(64);
  length = 0;

  push(value: number): void {
    if (this.length === this.values.length) {
      const grown = new Int32Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length++] = value;
  }

  view(): Int32Array {
    return this.values.subarray(0, this.length);
  }
}

/** Maps the values of one key column to dense ids 0, 1, 2, … in order of first appearance. */
interface KeyColumn {
  readonly count: number;
  /** Writes each row's id into `out`. */
  ids(vector: Vector, length: number, out: Int32Array): void;
  /** The values of `ids` as a vector. */
  values(ids: Int32Array): Vector;
}

class StringKey implements KeyColumn {
  readonly #type: 'string' | 'uint128';
  readonly #byText = new Map<string, number>();
  readonly #texts: string[] = [];
  /** Per input dictionary: entry → id, computed once per dictionary. */
  readonly #dictionaryIds = new WeakMap<Utf8Values, Int32Array>();

  constructor(type: 'string' | 'uint128') {
    this.#type = type;
  }

  get count(): number {
    return this.#texts.length;
  }

  #id(text: string): number {
    let id = this.#byText.get(text);
    if (id === undefined) {
      id = this.#texts.length;
      this.#texts.push(text);
      this.#byText.set(text, id);
    }
    return id;
  }

  ids(vector: Vector, length: number, out: Int32Array): void {
    if (vector.storage === 'dict') {
      let entryIds = this.#dictionaryIds.get(vector.dictionary);
      if (!entryIds) {
        const entries = vector.dictionary.offsets.length - 1;
        entryIds = new Int32Array(entries).fill(-1);
        this.#dictionaryIds.set(vector.dictionary, entryIds);
      }
      const codes = vector.codes;
      for (let i = 0; i < length; i++) {
        const code = codes[i] as number;
        let id = entryIds[code] as number;
        if (id < 0) {
          id = this.#id(stringAt(vector.dictionary, code));
          entryIds[code] = id;
        }
        out[i] = id;
      }
      return;
    }
    if (vector.storage !== 'utf8') throw new Error(`group by ${this.#type}: unexpected ${vector.storage} vector`);
    for (let i = 0; i < length; i++) out[i] = this.#id(stringAt(vector.strings, i));
  }

  values(ids: Int32Array): Vector {
    return { storage: 'dict', type: this.#type, length: ids.length, codes: ids, dictionary: utf8FromStrings(this.#texts) };
  }
}

class BigIntKey implements KeyColumn {
  readonly #type: 'int64' | 'time64ns';
  readonly #byValue = new Map<bigint, number>();
  #values = new BigInt64Array(64);

  constructor(type: 'int64' | 'time64ns') {
    this.#type = type;
  }

  get count(): number {
    return this.#byValue.size;
  }

  ids(vector: Vector, length: number, out: Int32Array): void {
    if (vector.storage !== 'bigint') throw new Error(`group by ${this.#type}: unexpected ${vector.storage} vector`);
    const values = vector.values;
    const byValue = this.#byValue;
    // Runs of equal values (sorted times, binned times) skip the hash lookup,
    // compared as 32-bit halves (no BigInt read per row).
    const words = LITTLE_ENDIAN ? int64Words(values) : undefined;
    let lastLo = 0;
    let lastHi = 0;
    let lastId = -1;
    for (let i = 0; i < length; i++) {
      let lo = 0;
      let hi = 0;
      if (words) {
        lo = words[2 * i] as number;
        hi = words[2 * i + 1] as number;
        if (lastId >= 0 && lo === lastLo && hi === lastHi) {
          out[i] = lastId;
          continue;
        }
      }
      const value = values[i] as bigint;
      let id = byValue.get(value);
      if (id === undefined) {
        id = byValue.size;
        byValue.set(value, id);
        if (id === this.#values.length) {
          const grown = new BigInt64Array(id * 2);
          grown.set(this.#values);
          this.#values = grown;
        }
        this.#values[id] = value;
      }
      out[i] = id;
      lastLo = lo;
      lastHi = hi;
      lastId = words ? id : -1;
    }
  }

  values(ids: Int32Array): Vector {
    const out = new BigInt64Array(ids.length);
    for (let i = 0; i < ids.length; i++) out[i] = this.#values[ids[i] as number] as bigint;
    return { storage: 'bigint', type: this.#type, length: ids.length, values: out };
  }
}

class FloatKey implements KeyColumn {
  readonly #byValue = new Map<number, number>();
  #values = new Float64Array(64);

  get count(): number {
    return this.#byValue.size;
  }

  ids(vector: Vector, length: number, out: Int32Array): void {
    if (vector.storage !== 'float') throw new Error(`group by float64: unexpected ${vector.storage} vector`);
    const values = vector.values;
    for (let i = 0; i < length; i++) {
      const value = values[i] as number;
      let id = this.#byValue.get(value);
      if (id === undefined) {
        id = this.#byValue.size;
        this.#byValue.set(value, id);
        if (id === this.#values.length) {
          const grown = new Float64Array(id * 2);
          grown.set(this.#values);
          this.#values = grown;
        }
        this.#values[id] = value;
      }
      out[i] = id;
    }
  }

  values(ids: Int32Array): Vector {
    const out = new Float64Array(ids.length);
    for (let i = 0; i < ids.length; i++) out[i] = this.#values[ids[i] as number] as number;
    return { storage: 'float', type: 'float64', length: ids.length, values: out };
  }
}

/** false → 0, true → 1 (ids are the values themselves). */
class BoolKey implements KeyColumn {
  #seen = 0;

  get count(): number {
    return this.#seen;
  }

  ids(vector: Vector, length: number, out: Int32Array): void {
    if (vector.storage !== 'bool') throw new Error(`group by boolean: unexpected ${vector.storage} vector`);
    for (let i = 0; i < length; i++) out[i] = vector.values[i] as number;
    this.#seen = 2;
  }

  values(ids: Int32Array): Vector {
    return { storage: 'bool', type: 'boolean', length: ids.length, values: Uint8Array.from(ids) };
  }
}

function keyColumn(type: ColumnType): KeyColumn {
  switch (type) {
    case 'string':
    case 'uint128': return new StringKey(type);
    case 'int64':
    case 'time64ns': return new BigIntKey(type);
    case 'float64': return new FloatKey();
    case 'boolean': return new BoolKey();
  }
}

/** Ids of one key column must stay below this (they index typed arrays). */
const PACK = 2 ** 26;

/**
 * Open-addressing hash table (linear probing, typed arrays) from a pair of
 * non-negative int32s to dense ids 0, 1, … in order of insertion.
 */
class PairTable {
  #firsts = new Int32Array(256);
  #seconds = new Int32Array(256);
  /** id + 1 per slot; 0 = empty. */
  #ids = new Int32Array(256);
  #mask = 255;
  size = 0;

  /** The id of (a, b), or -(the new id) − 1 when it was just added. */
  idOf(a: number, b: number): number {
    let mask = this.#mask;
    let slot = (Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca6b)) >>> 0;
    slot = (slot ^ (slot >>> 15)) & mask;
    const ids = this.#ids;
    for (;;) {
      const id = ids[slot] as number;
      if (id === 0) break;
      if (this.#firsts[slot] === a && this.#seconds[slot] === b) return id - 1;
      slot = (slot + 1) & mask;
    }
    const id = this.size++;
    ids[slot] = id + 1;
    this.#firsts[slot] = a;
    this.#seconds[slot] = b;
    if (this.size * 2 > mask) {
      this.#grow();
      mask = this.#mask;
    }
    return -id - 1;
  }

  #grow(): void {
    const firsts = this.#firsts;
    const seconds = this.#seconds;
    const ids = this.#ids;
    const capacity = ids.length * 2;
    this.#firsts = new Int32Array(capacity);
    this.#seconds = new Int32Array(capacity);
    this.#ids = new Int32Array(capacity);
    this.#mask = capacity - 1;
    for (let s = 0; s < ids.length; s++) {
      const id = ids[s] as number;
      if (id === 0) continue;
      const a = firsts[s] as number;
      const b = seconds[s] as number;
      let slot = (Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca6b)) >>> 0;
      slot = (slot ^ (slot >>> 15)) & this.#mask;
      while (this.#ids[slot] !== 0) slot = (slot + 1) & this.#mask;
      this.#ids[slot] = id;
      this.#firsts[slot] = a;
      this.#seconds[slot] = b;
    }
  }
}

/** Prefixes a PairCache holds (one Int32Array pair of this size at most per key level). */
const CACHE_PREFIXES = 1 << 16;

/**
 * The pairs (prefix, id) of one id value, prefix → pair id, without a hash:
 * valid while the second key column keeps that id (runs of binned or sorted
 * times), with every other prefix in between (e.g. (service, 10 s bin): the
 * services interleave, the bin holds for thousands of rows). Entries are
 * stamped with an epoch that changes with the id, so a change costs nothing.
 */
class PairCache {
  /** Per prefix: the pair id, valid where stamps[prefix] === epoch. */
  next = new Int32Array(256);
  stamps = new Int32Array(256);
  epoch = 1;
  /** The id the entries are for. */
  id = -1;

  /** Starts caching pairs of `id` (every entry stamped before goes stale). */
  reset(id: number): void {
    this.id = id;
    if (++this.epoch === 0x40000000) {
      this.stamps.fill(0);
      this.epoch = 1;
    }
  }

  /** Caches (prefix, the current id) → next; prefixes past CACHE_PREFIXES are not cached. */
  set(prefix: number, next: number): void {
    if (prefix >= this.stamps.length) {
      if (prefix >= CACHE_PREFIXES) return;
      let capacity = this.stamps.length;
      while (capacity <= prefix) capacity *= 2;
      const stamps = new Int32Array(capacity);
      stamps.set(this.stamps);
      const nexts = new Int32Array(capacity);
      nexts.set(this.next);
      this.stamps = stamps;
      this.next = nexts;
    }
    this.stamps[prefix] = this.epoch;
    this.next[prefix] = next;
  }
}

/**
 * Assigns dense group ids (0, 1, … in order of first appearance) to rows by
 * the values of their key columns. With no key columns every row is group 0,
 * which always exists.
 */
export class GroupTable {
  readonly #keys: KeyColumn[];
  /** levels[c - 1]: (id of the prefix up to column c − 1, id in column c) → id of the prefix up to c. */
  readonly #levels: PairTable[] = [];
  readonly #caches: PairCache[] = [];
  /** Per key column: the column-local id of each group. */
  readonly #groupKeyIds: IntList[];
  #count: number;
  #scratch: Int32Array[] = [];
  /** assign's result, reused: valid until the next assign. */
  #groups = new Int32Array(0);

  constructor(types: readonly ColumnType[]) {
    this.#keys = types.map(keyColumn);
    for (let c = 1; c < types.length; c++) {
      this.#levels.push(new PairTable());
      this.#caches.push(new PairCache());
    }
    this.#groupKeyIds = types.map(() => new IntList());
    this.#count = types.length === 0 ? 1 : 0;
  }

  get count(): number {
    return this.#count;
  }

  /**
   * The group id of each of the `length` rows of `vectors` (one per key
   * column), creating groups as needed. With `selected`, the rows are rows
   * selected.rows of vectors holding selected.of rows: with several key
   * columns, column ids are computed for all of them (ids need not be dense
   * there: the pair tables number the groups), groups only for the selected
   * ones. The result is valid until the next call.
   */
  assign(vectors: readonly Vector[], length: number, selected?: { readonly rows: Int32Array; readonly of: number }): Int32Array {
    const k = this.#keys.length;
    if (k === 0) return new Int32Array(length);
    if (k === 1 && selected) {
      // One key column's ids are the group ids, which must be dense in order of first appearance among grouped rows: the selected rows only.
      return this.assign([gather(vectors[0] as Vector, selected.rows)], length);
    }
    const all = selected ? selected.of : length;
    if (this.#scratch.length === 0 || (this.#scratch[0] as Int32Array).length < all) {
      this.#scratch = this.#keys.map(() => new Int32Array(all));
    }
    const ids = this.#scratch;
    for (let c = 0; c < k; c++) (this.#keys[c] as KeyColumn).ids(vectors[c] as Vector, all, ids[c] as Int32Array);
    if (selected) {
      // Compacted in place: rows ascend, so rows[i] >= i is never overwritten before it is read.
      const rows = selected.rows;
      for (let c = 0; c < k; c++) {
        const columnIds = ids[c] as Int32Array;
        for (let i = 0; i < length; i++) columnIds[i] = columnIds[rows[i] as number] as number;
      }
    }
    if (this.#groups.length < length) this.#groups = new Int32Array(length);
    const groups = this.#groups.subarray(0, length);
    const first = ids[0] as Int32Array;
    if (k === 1) {
      // One key column: its ids are the group ids.
      const keyIds = this.#groupKeyIds[0] as IntList;
      for (let i = 0; i < length; i++) {
        const id = first[i] as number;
        groups[i] = id;
        if (id >= this.#count) {
          keyIds.push(id);
          this.#count = id + 1;
        }
      }
      return groups;
    }
    groups.set(first.subarray(0, length));
    for (let c = 1; c < k; c++) {
      const level = this.#levels[c - 1] as PairTable;
      const cache = this.#caches[c - 1] as PairCache;
      const columnIds = ids[c] as Int32Array;
      const last = c === k - 1;
      // Runs of the same pair (sorted or binned keys) skip the look-up.
      let lastPrefix = -1;
      let lastId = -1;
      let lastNext = -1;
      // The cache's state in locals (reloaded when reset or set changes it).
      let stamps = cache.stamps;
      let nexts = cache.next;
      let epoch = cache.epoch;
      let cachedId = cache.id;
      for (let i = 0; i < length; i++) {
        const prefix = groups[i] as number;
        const id = columnIds[i] as number;
        if (prefix === lastPrefix && id === lastId) {
          groups[i] = lastNext;
          continue;
        }
        let next = -1;
        if (id !== cachedId) {
          cache.reset(id);
          epoch = cache.epoch;
          cachedId = id;
        } else if (prefix < stamps.length && stamps[prefix] === epoch) {
          next = nexts[prefix] as number;
        }
        if (next < 0) {
          if (prefix >= PACK || id >= PACK) throw new Error(`group rows: more than ${PACK} distinct keys`);
          next = level.idOf(prefix, id);
          if (next < 0) {
            next = -next - 1;
            if (last) {
              for (let kc = 0; kc < k; kc++) (this.#groupKeyIds[kc] as IntList).push((ids[kc] as Int32Array)[i] as number);
              this.#count = next + 1;
            }
          }
          cache.set(prefix, next);
          stamps = cache.stamps;
          nexts = cache.next;
        }
        groups[i] = next;
        lastPrefix = prefix;
        lastId = id;
        lastNext = next;
      }
    }
    return groups;
  }

  /** The key values of every group, one vector per key column, in group id order. */
  keyVectors(): Vector[] {
    return this.#keys.map((key, c) => key.values((this.#groupKeyIds[c] as IntList).view().slice()));
  }
}
