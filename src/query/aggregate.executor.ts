// groupby().agg(): hash aggregation over chunks. Each aggregate keeps one
// slot per group in typed arrays (quantiles: one t-digest per group).
//
// Partial states (node fragment → merge fragment), per aggregate `name`:
//   count      name: int64 (rows)
//   sum        name: int64 or float64 (int64 and boolean inputs sum to int64)
//   mean       name:sum float64, name:count int64
//   min, max   name: the input type (extremes of an empty group are sentinels)
//   any        name: the input type
//   quantiles  name: string, a serialized t-digest (tdigest.ts)
// Integer sums are accumulated in float64: exact while |sum| < 2^53.
import type { ColumnType } from '../tables/schema.ts';
import type { Chunk } from './expression.evaluator.ts';
import { GroupTable } from './group.table.ts';
import type { AggregateNode, AggregateSpec, PlanColumn } from './plan.ts';
import { TDigest } from './tdigest.ts';
import { gather, int64ToFloat, int64ToFloatAt, utf8FromStrings, vectorStringAt, type StringVector, type Vector } from './vector.ts';

/** The output type of an aggregate. */
export function aggregateResultType(spec: Pick<AggregateSpec, 'fn' | 'inputType'>): ColumnType {
  switch (spec.fn) {
    case 'count': return 'int64';
    case 'sum': return spec.inputType === 'float64' ? 'float64' : 'int64';
    case 'mean': return 'float64';
    case 'quantiles': return 'string';
    default: return spec.inputType;
  }
}

/** The input types an aggregate takes. */
export function aggregateAccepts(fn: AggregateSpec['fn'], type: ColumnType): boolean {
  switch (fn) {
    case 'count':
    case 'any': return true;
    case 'sum':
    case 'mean': return type === 'int64' || type === 'float64' || type === 'boolean';
    case 'min':
    case 'max': return type === 'int64' || type === 'float64' || type === 'time64ns';
    case 'quantiles': return type === 'int64' || type === 'float64';
  }
}

/** The partial-state columns of one aggregate (see the table above). */
export function partialColumns(spec: AggregateSpec): PlanColumn[] {
  if (spec.fn === 'mean') return [{ name: `${spec.name}:sum`, type: 'float64' }, { name: `${spec.name}:count`, type: 'int64' }];
  if (spec.fn === 'quantiles') return [{ name: spec.name, type: 'string' }];
  return [{ name: spec.name, type: aggregateResultType(spec) }];
}

function growFloat(array: Float64Array<ArrayBuffer>, size: number, fill = 0): Float64Array<ArrayBuffer> {
  if (array.length >= size) return array;
  const grown = new Float64Array(Math.max(size, array.length * 2)).fill(fill);
  grown.set(array);
  return grown;
}

function growBig(array: BigInt64Array<ArrayBuffer>, size: number, fill: bigint): BigInt64Array<ArrayBuffer> {
  if (array.length >= size) return array;
  const grown = new BigInt64Array(Math.max(size, array.length * 2)).fill(fill);
  grown.set(array);
  return grown;
}

function growBytes(array: Uint8Array<ArrayBuffer>, size: number): Uint8Array<ArrayBuffer> {
  if (array.length >= size) return array;
  const grown = new Uint8Array(Math.max(size, array.length * 2));
  grown.set(array);
  return grown;
}

interface Accumulator {
  /** Whether update takes `rows` (a selection over `input`); others get the selected rows gathered. */
  readonly selective?: boolean;
  /** Makes room for `groups` groups. */
  ensure(groups: number): void;
  /** Folds input rows in: row i (< length) of group groups[i] is input row rows[i] with `rows`, else i. */
  update(groups: Int32Array, length: number, input: Vector, rows?: Int32Array): void;
  /** Folds partial-state rows in. */
  merge(groups: Int32Array, length: number, partials: readonly Vector[]): void;
  partial(groups: number): Vector[];
  final(groups: number): Vector;
}

/** Adds each row's numeric value (booleans as 0/1, int64 as float) into sums[group]. */
function addValues(sums: Float64Array, groups: Int32Array, length: number, input: Vector): void {
  switch (input.storage) {
    case 'float': { const v = input.values; for (let i = 0; i < length; i++) { const g = groups[i] as number; sums[g] = (sums[g] as number) + (v[i] as number); } return; }
    case 'bigint': { const v = input.values; for (let i = 0; i < length; i++) { const g = groups[i] as number; sums[g] = (sums[g] as number) + Number(v[i] as bigint); } return; }
    case 'bool': { const v = input.values; for (let i = 0; i < length; i++) { const g = groups[i] as number; sums[g] = (sums[g] as number) + (v[i] as number); } return; }
    default: throw new Error(`aggregate: cannot sum ${input.type}`);
  }
}

function int64Vector(values: Float64Array, groups: number): Vector {
  const out = new BigInt64Array(groups);
  for (let g = 0; g < groups; g++) out[g] = BigInt(Math.round(values[g] as number));
  return { storage: 'bigint', type: 'int64', length: groups, values: out };
}

function floatVector(values: Float64Array, groups: number): Vector {
  return { storage: 'float', type: 'float64', length: groups, values: values.slice(0, groups) };
}

class CountAccumulator implements Accumulator {
  readonly selective = true;
  #counts = new Float64Array(16);
  ensure(groups: number): void { this.#counts = growFloat(this.#counts, groups); }
  update(groups: Int32Array, length: number): void {
    const counts = this.#counts;
    for (let i = 0; i < length; i++) { const g = groups[i] as number; counts[g] = (counts[g] as number) + 1; }
  }
  merge(groups: Int32Array, length: number, partials: readonly Vector[]): void { addValues(this.#counts, groups, length, partials[0] as Vector); }
  partial(groups: number): Vector[] { return [this.final(groups)]; }
  final(groups: number): Vector { return int64Vector(this.#counts, groups); }
}

class SumAccumulator implements Accumulator {
  #sums = new Float64Array(16);
  readonly #resultType: ColumnType;
  constructor(resultType: ColumnType) { this.#resultType = resultType; }
  ensure(groups: number): void { this.#sums = growFloat(this.#sums, groups); }
  update(groups: Int32Array, length: number, input: Vector): void { addValues(this.#sums, groups, length, input); }
  merge(groups: Int32Array, length: number, partials: readonly Vector[]): void { addValues(this.#sums, groups, length, partials[0] as Vector); }
  partial(groups: number): Vector[] { return [this.final(groups)]; }
  final(groups: number): Vector { return this.#resultType === 'float64' ? floatVector(this.#sums, groups) : int64Vector(this.#sums, groups); }
}

class MeanAccumulator implements Accumulator {
  #sums = new Float64Array(16);
  #counts = new Float64Array(16);
  ensure(groups: number): void {
    this.#sums = growFloat(this.#sums, groups);
    this.#counts = growFloat(this.#counts, groups);
  }
  update(groups: Int32Array, length: number, input: Vector): void {
    addValues(this.#sums, groups, length, input);
    const counts = this.#counts;
    for (let i = 0; i < length; i++) { const g = groups[i] as number; counts[g] = (counts[g] as number) + 1; }
  }
  merge(groups: Int32Array, length: number, partials: readonly Vector[]): void {
    addValues(this.#sums, groups, length, partials[0] as Vector);
    addValues(this.#counts, groups, length, partials[1] as Vector);
  }
  partial(groups: number): Vector[] { return [floatVector(this.#sums, groups), int64Vector(this.#counts, groups)]; }
  final(groups: number): Vector {
    const out = new Float64Array(groups);
    for (let g = 0; g < groups; g++) out[g] = (this.#sums[g] as number) / (this.#counts[g] as number);
    return { storage: 'float', type: 'float64', length: groups, values: out };
  }
}

const INT64_MAX = 0x7fffffffffffffffn;
const INT64_MIN = -0x8000000000000000n;

class ExtremeAccumulator implements Accumulator {
  readonly #max: boolean;
  readonly #type: ColumnType;
  #floats = new Float64Array(0);
  #bigs = new BigInt64Array(0);
  constructor(max: boolean, type: ColumnType) {
    this.#max = max;
    this.#type = type;
  }
  ensure(groups: number): void {
    if (this.#type === 'float64') this.#floats = growFloat(this.#floats, groups, this.#max ? -Infinity : Infinity);
    else this.#bigs = growBig(this.#bigs, groups, this.#max ? INT64_MIN : INT64_MAX);
  }
  update(groups: Int32Array, length: number, input: Vector): void {
    if (input.storage === 'float') {
      const v = input.values;
      const out = this.#floats;
      if (this.#max) for (let i = 0; i < length; i++) { const g = groups[i] as number; if ((v[i] as number) > (out[g] as number)) out[g] = v[i] as number; }
      else for (let i = 0; i < length; i++) { const g = groups[i] as number; if ((v[i] as number) < (out[g] as number)) out[g] = v[i] as number; }
      return;
    }
    if (input.storage !== 'bigint') throw new Error(`aggregate: no min/max of ${input.type}`);
    const v = input.values;
    const out = this.#bigs;
    if (this.#max) for (let i = 0; i < length; i++) { const g = groups[i] as number; if ((v[i] as bigint) > (out[g] as bigint)) out[g] = v[i] as bigint; }
    else for (let i = 0; i < length; i++) { const g = groups[i] as number; if ((v[i] as bigint) < (out[g] as bigint)) out[g] = v[i] as bigint; }
  }
  merge(groups: Int32Array, length: number, partials: readonly Vector[]): void { this.update(groups, length, partials[0] as Vector); }
  partial(groups: number): Vector[] { return [this.final(groups)]; }
  final(groups: number): Vector {
    if (this.#type === 'float64') return floatVector(this.#floats, groups);
    return { storage: 'bigint', type: this.#type as 'int64' | 'time64ns', length: groups, values: this.#bigs.slice(0, groups) };
  }
}

/** The first value seen per group. */
class AnyAccumulator implements Accumulator {
  readonly #type: ColumnType;
  #seen = new Uint8Array(16);
  #floats = new Float64Array(0);
  #bigs = new BigInt64Array(0);
  #bools = new Uint8Array(0);
  readonly #strings: string[] = [];
  constructor(type: ColumnType) { this.#type = type; }
  ensure(groups: number): void {
    this.#seen = growBytes(this.#seen, groups);
    switch (this.#type) {
      case 'float64': this.#floats = growFloat(this.#floats, groups); break;
      case 'int64': case 'time64ns': this.#bigs = growBig(this.#bigs, groups, 0n); break;
      case 'boolean': this.#bools = growBytes(this.#bools, groups); break;
      default: while (this.#strings.length < groups) this.#strings.push('');
    }
  }
  update(groups: Int32Array, length: number, input: Vector): void {
    const seen = this.#seen;
    for (let i = 0; i < length; i++) {
      const g = groups[i] as number;
      if (seen[g] === 1) continue;
      seen[g] = 1;
      switch (input.storage) {
        case 'float': this.#floats[g] = input.values[i] as number; break;
        case 'bigint': this.#bigs[g] = input.values[i] as bigint; break;
        case 'bool': this.#bools[g] = input.values[i] as number; break;
        default: this.#strings[g] = vectorStringAt(input as StringVector, i);
      }
    }
  }
  merge(groups: Int32Array, length: number, partials: readonly Vector[]): void { this.update(groups, length, partials[0] as Vector); }
  partial(groups: number): Vector[] { return [this.final(groups)]; }
  final(groups: number): Vector {
    switch (this.#type) {
      case 'float64': return floatVector(this.#floats, groups);
      case 'int64': case 'time64ns': return { storage: 'bigint', type: this.#type, length: groups, values: this.#bigs.slice(0, groups) };
      case 'boolean': return { storage: 'bool', type: 'boolean', length: groups, values: this.#bools.slice(0, groups) };
      default: return { storage: 'utf8', type: this.#type, length: groups, strings: utf8FromStrings(this.#strings.slice(0, groups)) };
    }
  }
}

/**
 * Row indexes of a chunk ordered by group (a counting sort), so each group's
 * rows are handed to its state in one call: rows[starts[k]] … rows[starts[k + 1] − 1]
 * belong to group touched[k]. Buffers are reused from chunk to chunk.
 */
export class GroupRuns {
  rows = new Int32Array(0);
  /** The groups present in the chunk, in order of first appearance. */
  touched = new Int32Array(0);
  touchedCount = 0;
  starts = new Int32Array(1);
  /** Per group: its row count, then its next write position (all zero between chunks). */
  #cursor = new Int32Array(0);

  build(groups: Int32Array, length: number, groupCount: number): void {
    if (this.#cursor.length < groupCount) this.#cursor = new Int32Array(Math.max(groupCount, 2 * this.#cursor.length));
    if (this.rows.length < length) {
      this.rows = new Int32Array(length);
      this.touched = new Int32Array(length);
      this.starts = new Int32Array(length + 1);
    }
    const cursor = this.#cursor;
    const touched = this.touched;
    let touchedCount = 0;
    for (let i = 0; i < length; i++) {
      const g = groups[i] as number;
      const c = cursor[g] as number;
      if (c === 0) touched[touchedCount++] = g;
      cursor[g] = c + 1;
    }
    const starts = this.starts;
    let at = 0;
    for (let k = 0; k < touchedCount; k++) {
      const g = touched[k] as number;
      starts[k] = at;
      const c = cursor[g] as number;
      cursor[g] = at;
      at += c;
    }
    starts[touchedCount] = at;
    const rows = this.rows;
    for (let i = 0; i < length; i++) {
      const g = groups[i] as number;
      const to = cursor[g] as number;
      rows[to] = i;
      cursor[g] = to + 1;
    }
    for (let k = 0; k < touchedCount; k++) cursor[touched[k] as number] = 0;
    this.touchedCount = touchedCount;
  }
}

class QuantilesAccumulator implements Accumulator {
  readonly selective = true;
  /** One digest per group, created on its first row (a TDigest allocates its buffers lazily too). */
  readonly #digests: TDigest[] = [];
  readonly #runs = new GroupRuns();
  /** int64 inputs as floats (reused per chunk). */
  #floats = new Float64Array(0);
  ensure(groups: number): void { while (this.#digests.length < groups) this.#digests.push(new TDigest()); }
  update(groups: Int32Array, length: number, input: Vector, selection?: Int32Array): void {
    const digests = this.#digests;
    const runs = this.#runs;
    runs.build(groups, length, digests.length);
    const { rows, touched, starts } = runs;
    let values: Float64Array;
    if (input.storage === 'bigint') {
      // int64 → float64 of the rows read (a selection's only), then rows index `values`.
      this.#floats = growFloat(this.#floats, length);
      values = selection ? int64ToFloatAt(input.values, selection, length, this.#floats) : int64ToFloat(input.values, length, this.#floats);
    } else if (input.storage === 'float') {
      values = input.values;
      if (selection) for (let i = 0; i < length; i++) rows[i] = selection[rows[i] as number] as number;
    } else {
      throw new Error(`aggregate: no quantiles of ${input.type}`);
    }
    for (let k = 0; k < runs.touchedCount; k++) {
      (digests[touched[k] as number] as TDigest).addRows(values, rows, starts[k] as number, starts[k + 1] as number);
    }
  }
  merge(groups: Int32Array, length: number, partials: readonly Vector[]): void {
    const states = partials[0] as StringVector;
    for (let i = 0; i < length; i++) (this.#digests[groups[i] as number] as TDigest).merge(TDigest.deserialize(vectorStringAt(states, i)));
  }
  partial(groups: number): Vector[] {
    return [{ storage: 'utf8', type: 'string', length: groups, strings: utf8FromStrings(this.#digests.slice(0, groups).map((d) => d.serialize())) }];
  }
  final(groups: number): Vector {
    return { storage: 'utf8', type: 'string', length: groups, strings: utf8FromStrings(this.#digests.slice(0, groups).map((d) => d.quantilesJson())) };
  }
}

function accumulator(spec: AggregateSpec): Accumulator {
  switch (spec.fn) {
    case 'count': return new CountAccumulator();
    case 'sum': return new SumAccumulator(aggregateResultType(spec));
    case 'mean': return new MeanAccumulator();
    case 'min': return new ExtremeAccumulator(false, spec.inputType);
    case 'max': return new ExtremeAccumulator(true, spec.inputType);
    case 'any': return new AnyAccumulator(spec.inputType);
    case 'quantiles': return new QuantilesAccumulator();
  }
}

function indexOf(columns: readonly PlanColumn[], name: string): number {
  const index = columns.findIndex((c) => c.name === name);
  if (index < 0) throw new Error(`prepare aggregate: column ${name} is not in the input (${columns.map((c) => c.name).join(', ')})`);
  return index;
}

/** Aggregates every chunk of `input`; yields one chunk with one row per group. */
export function* runAggregate(node: AggregateNode, input: Iterable<Chunk>): Generator<Chunk> {
  const inputColumns = node.input.columns;
  const groupIndexes = node.groups.map((g) => indexOf(inputColumns, g));
  const table = new GroupTable(groupIndexes.map((i) => (inputColumns[i] as PlanColumn).type));
  const accumulators = node.aggregates.map(accumulator);
  const merging = node.mode === 'final';
  const argIndexes = node.aggregates.map((spec) => (merging ? partialColumns(spec).map((c) => indexOf(inputColumns, c.name)) : [indexOf(inputColumns, spec.column)]));
  for (const a of accumulators) a.ensure(table.count);
  for (const chunk of input) {
    if (chunk.length === 0) continue;
    const rows = chunk.selected?.rows;
    const groups = table.assign(groupIndexes.map((i) => chunk.vectors[i] as Vector), chunk.length, chunk.selected);
    const count = table.count;
    accumulators.forEach((a, k) => {
      a.ensure(count);
      const args = (argIndexes[k] as number[]).map((i) => chunk.vectors[i] as Vector);
      if (merging) a.merge(groups, chunk.length, rows ? args.map((v) => gather(v, rows)) : args);
      else if (!rows) a.update(groups, chunk.length, args[0] as Vector);
      else if (a.selective) a.update(groups, chunk.length, args[0] as Vector, rows);
      else a.update(groups, chunk.length, gather(args[0] as Vector, rows));
    });
  }
  const count = table.count;
  if (count === 0) return;
  const vectors: Vector[] = table.keyVectors();
  for (const a of accumulators) {
    if (node.mode === 'partial') vectors.push(...a.partial(count));
    else vectors.push(a.final(count));
  }
  yield { length: count, vectors };
}
