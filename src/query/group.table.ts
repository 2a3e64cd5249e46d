// Hash grouping on typed arrays, for aggregates and joins. Each key column
// maps its values to dense column-local ids (once per dictionary entry for
// dictionary-encoded strings); the ids of several key columns are packed
// pairwise into one number key and mapped to dense group ids. Per row only
// numbers are hashed; the only objects are one per distinct key value.
import type { ColumnType } from '../tables/schema.ts';
import { stringAt, utf8FromStrings, type Utf8Values, type Vector } from './vector.ts';

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
    // Runs of equal values (sorted times, binned times) skip the hash lookup.
    let lastValue = 0n;
    let lastId = -1;
    for (let i = 0; i < length; i++) {
      const value = values[i] as bigint;
      if (lastId >= 0 && value === lastValue) {
        out[i] = lastId;
        continue;
      }
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
      lastValue = value;
      lastId = id;
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

/** Ids of one key column must stay below this so two of them pack into a safe integer. */
const PACK = 2 ** 26;

/**
 * Assigns dense group ids (0, 1, … in order of first appearance) to rows by
 * the values of their key columns. With no key columns every row is group 0,
 * which always exists.
 */
export class GroupTable {
  readonly #keys: KeyColumn[];
  /** levels[c - 1]: (id of the prefix up to column c − 1) · PACK + id in column c → id of the prefix up to c. */
  readonly #levels: Map<number, number>[] = [];
  /** Per key column: the column-local id of each group. */
  readonly #groupKeyIds: IntList[];
  #count: number;
  #scratch: Int32Array[] = [];

  constructor(types: readonly ColumnType[]) {
    this.#keys = types.map(keyColumn);
    for (let c = 1; c < types.length; c++) this.#levels.push(new Map());
    this.#groupKeyIds = types.map(() => new IntList());
    this.#count = types.length === 0 ? 1 : 0;
  }

  get count(): number {
    return this.#count;
  }

  /** The group id of each of the `length` rows of `vectors` (one per key column), creating groups as needed. */
  assign(vectors: readonly Vector[], length: number): Int32Array {
    const k = this.#keys.length;
    if (k === 0) return new Int32Array(length);
    if (this.#scratch.length === 0 || (this.#scratch[0] as Int32Array).length < length) {
      this.#scratch = this.#keys.map(() => new Int32Array(length));
    }
    const ids = this.#scratch;
    for (let c = 0; c < k; c++) (this.#keys[c] as KeyColumn).ids(vectors[c] as Vector, length, ids[c] as Int32Array);
    const groups = new Int32Array(length);
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
      const level = this.#levels[c - 1] as Map<number, number>;
      const columnIds = ids[c] as Int32Array;
      const last = c === k - 1;
      for (let i = 0; i < length; i++) {
        const prefix = groups[i] as number;
        const id = columnIds[i] as number;
        if (prefix >= PACK || id >= PACK) throw new Error(`group rows: more than ${PACK} distinct keys`);
        const key = prefix * PACK + id;
        let next = level.get(key);
        if (next === undefined) {
          next = level.size;
          level.set(key, next);
          if (last) {
            for (let kc = 0; kc < k; kc++) (this.#groupKeyIds[kc] as IntList).push((ids[kc] as Int32Array)[i] as number);
            this.#count = next + 1;
          }
        }
        groups[i] = next;
      }
    }
    return groups;
  }

  /** The key values of every group, one vector per key column, in group id order. */
  keyVectors(): Vector[] {
    return this.#keys.map((key, c) => key.values((this.#groupKeyIds[c] as IntList).view().slice()));
  }
}
