import { RecordBatch, Struct, Utf8, makeData, makeVector } from 'apache-arrow';
import type { Bool, Data, DataType, Dictionary, Int32, Schema } from 'apache-arrow';
import { arrowSchema } from '../../tables/arrow.ts';
import { writeUtf8 } from '../bytes.ts';
import type { ColumnSpec, TableSpec } from '../../tables/schema.ts';

const TWO_POW_32 = 4294967296;

/** A sealed batch with what retention needs to know about it. */
export interface SealedBatch {
  readonly batch: RecordBatch;
  readonly rows: number;
  readonly bytes: number;
  readonly minTimeNs: bigint;
  readonly maxTimeNs: bigint;
}

interface ColumnBuilder {
  readonly spec: ColumnSpec;
  /** Bytes currently held for the rows appended so far. */
  bytes(): number;
  seal(type: DataType, length: number): Data;
}

/** time64ns and int64: a BigInt64Array written through an Int32Array view (no BigInt per row). */
class Int64Column implements ColumnBuilder {
  readonly spec: ColumnSpec;
  readonly words: Int32Array;
  constructor(spec: ColumnSpec, capacity: number) {
    this.spec = spec;
    this.words = new Int32Array(capacity * 2);
  }
  bytes(): number { return this.words.byteLength; }
  seal(type: DataType, length: number): Data {
    const values = new BigInt64Array(this.words.buffer, 0, length).slice();
    return makeData({ type, length, nullCount: 0, data: values } as never);
  }
}

class Float64Column implements ColumnBuilder {
  readonly spec: ColumnSpec;
  readonly values: Float64Array;
  constructor(spec: ColumnSpec, capacity: number) {
    this.spec = spec;
    this.values = new Float64Array(capacity);
  }
  bytes(): number { return this.values.byteLength; }
  seal(type: DataType, length: number): Data {
    return makeData({ type, length, nullCount: 0, data: this.values.slice(0, length) } as never);
  }
}

class BoolColumn implements ColumnBuilder {
  readonly spec: ColumnSpec;
  readonly bits: Uint8Array;
  constructor(spec: ColumnSpec, capacity: number) {
    this.spec = spec;
    this.bits = new Uint8Array(Math.ceil(capacity / 8));
  }
  bytes(): number { return this.bits.byteLength; }
  set(row: number, value: boolean): void {
    const mask = 1 << (row & 7);
    if (value) this.bits[row >> 3]! |= mask; else this.bits[row >> 3]! &= ~mask;
  }
  seal(type: DataType, length: number): Data {
    return makeData({ type: type as Bool, length, nullCount: 0, data: this.bits.slice(0, Math.ceil(length / 8)) });
  }
}

/** Plain Utf8: one growing byte buffer and an offsets array. */
class Utf8Column implements ColumnBuilder {
  readonly spec: ColumnSpec;
  readonly offsets: Int32Array;
  data: Uint8Array;
  used = 0;
  private lastRowSet = -1;
  /** The value set for row lastRowSet (its bytes end at offsets[lastRowSet + 1]). */
  private lastValue = '';
  constructor(spec: ColumnSpec, capacity: number) {
    this.spec = spec;
    this.offsets = new Int32Array(capacity + 1);
    this.data = new Uint8Array(Math.max(1024, capacity * 16));
  }
  bytes(): number { return this.offsets.byteLength + this.used; }
  set(row: number, value: string): void {
    // Repeats of the previous row's value (a response summary such as
    // "SELECT 1 [abalance]", a method, a status text) are common: copy the
    // bytes already encoded instead of encoding the string again.
    if (value === this.lastValue && this.lastRowSet === row - 1 && row > 0) {
      this.repeatPrevious(row);
      return;
    }
    // UTF-8 needs at most 3 bytes per UTF-16 code unit.
    const need = this.used + value.length * 3;
    if (need > this.data.length) {
      const grown = new Uint8Array(Math.max(need, this.data.length * 2));
      grown.set(this.data.subarray(0, this.used));
      this.data = grown;
    }
    this.used += writeUtf8(value, this.data, this.used);
    this.offsets[row + 1] = this.used;
    this.lastRowSet = row;
    this.lastValue = value;
  }

  /** Appends row - 1's bytes again as row's value. */
  private repeatPrevious(row: number): void {
    const from = this.offsets[row - 1]!;
    const length = this.offsets[row]! - from;
    const need = this.used + length;
    if (need > this.data.length) {
      const grown = new Uint8Array(Math.max(need, this.data.length * 2));
      grown.set(this.data.subarray(0, this.used));
      this.data = grown;
    }
    const data = this.data;
    const at = this.used;
    // Short values: a loop beats copyWithin's call overhead.
    if (length <= 64) for (let k = 0; k < length; k++) data[at + k] = data[from + k]!;
    else data.copyWithin(at, from, from + length);
    this.used = need;
    this.offsets[row + 1] = need;
    this.lastRowSet = row;
  }
  /** A row whose value was not set holds the empty string. */
  finishRow(row: number): void {
    if (this.lastRowSet !== row) this.offsets[row + 1] = this.used;
  }
  seal(type: DataType, length: number): Data {
    return makeData({
      type: type as Utf8, length, nullCount: 0,
      valueOffsets: this.offsets.slice(0, length + 1), data: this.data.slice(0, this.used),
    });
  }
}

/** Dictionary<Utf8, Int32>: values de-duplicated per batch. */
class DictionaryColumn implements ColumnBuilder {
  readonly spec: ColumnSpec;
  readonly indices: Int32Array;
  // Index 0 is the empty string, so a row whose value was not set reads ''.
  readonly lookup = new Map<string, number>([['', 0]]);
  readonly values: string[] = [''];
  valueBytes = 0;
  constructor(spec: ColumnSpec, capacity: number) {
    this.spec = spec;
    this.indices = new Int32Array(capacity);
  }
  bytes(): number { return this.indices.byteLength + this.grownBytes(); }
  /** bytes() less the preallocated indices. */
  grownBytes(): number { return this.valueBytes + this.values.length * 4; }
  set(row: number, value: string): void {
    let index = this.lookup.get(value);
    if (index === undefined) {
      index = this.values.length;
      this.values.push(value);
      this.lookup.set(value, index);
      this.valueBytes += value.length;
    }
    this.indices[row] = index;
  }
  seal(type: DataType, length: number): Data {
    const dictionary = makeVector(utf8Data(this.values));
    return makeData({
      type: type as Dictionary<Utf8, Int32>, length, nullCount: 0,
      data: this.indices.slice(0, length), dictionary,
    });
  }
}

/**
 * Fills preallocated column arrays for one table, then wraps them into an
 * Arrow RecordBatch. Rows are written column by column through the typed
 * setters; `commitRow()` ends a row. Not reusable after `seal()`.
 *
 * Contract: every column must be set for every row before commitRow();
 * columns left unset keep zero / the previous row's string offset (an empty string).
 */
export class BatchBuilder {
  readonly table: TableSpec;
  readonly capacity: number;
  readonly schema: Schema;
  private readonly columns: ColumnBuilder[];
  private readonly timeColumn: Int64Column;
  private readonly utf8Columns: Utf8Column[];
  private readonly dictionaryColumns: DictionaryColumn[];
  /** Bytes of the preallocated arrays, which never change: bytes() adds only what grows. */
  private readonly fixedBytes: number;
  private rowCount = 0;

  constructor(table: TableSpec, capacity: number) {
    this.table = table;
    this.capacity = capacity;
    this.schema = arrowSchema(table);
    this.columns = table.columns.map((spec) => makeColumn(spec, capacity));
    this.timeColumn = this.columns[0] as Int64Column;
    this.utf8Columns = this.columns.filter((c): c is Utf8Column => c instanceof Utf8Column);
    this.dictionaryColumns = this.columns.filter((c): c is DictionaryColumn => c instanceof DictionaryColumn);
    let grown = 0;
    for (const c of this.utf8Columns) grown += c.bytes();
    for (const c of this.dictionaryColumns) grown += c.bytes();
    let total = 0;
    for (const column of this.columns) total += column.bytes();
    this.fixedBytes = total - grown + this.utf8Columns.reduce((n, c) => n + c.offsets.byteLength, 0)
      + this.dictionaryColumns.reduce((n, c) => n + c.indices.byteLength, 0);
  }

  get rows(): number { return this.rowCount; }
  get full(): boolean { return this.rowCount >= this.capacity; }

  /**
   * The sum of every column's bytes(), computed from the parts that grow
   * (called after every row: a loop over all columns' bytes() was a
   * polymorphic call per column per row).
   */
  bytes(): number {
    let total = this.fixedBytes;
    const utf8 = this.utf8Columns;
    for (let i = 0; i < utf8.length; i++) total += utf8[i]!.used;
    const dictionaries = this.dictionaryColumns;
    for (let i = 0; i < dictionaries.length; i++) total += dictionaries[i]!.grownBytes();
    return total;
  }

  /** Sets a time64ns/int64 column from a safe integer. */
  setInt(column: number, value: number): void {
    const words = (this.columns[column] as Int64Column).words;
    const hi = Math.floor(value / TWO_POW_32);
    words[this.rowCount * 2] = (value - hi * TWO_POW_32) | 0;
    words[this.rowCount * 2 + 1] = hi | 0;
  }

  /** Sets a time64ns/int64 column from its two 32-bit halves (`lo` taken as unsigned). */
  setInt64Parts(column: number, hi: number, lo: number): void {
    const words = (this.columns[column] as Int64Column).words;
    words[this.rowCount * 2] = lo | 0;
    words[this.rowCount * 2 + 1] = hi | 0;
  }

  setFloat(column: number, value: number): void {
    (this.columns[column] as Float64Column).values[this.rowCount] = value;
  }

  setBool(column: number, value: boolean): void {
    (this.columns[column] as BoolColumn).set(this.rowCount, value);
  }

  setString(column: number, value: string): void {
    (this.columns[column] as Utf8Column | DictionaryColumn).set(this.rowCount, value);
  }

  commitRow(): void {
    for (const column of this.utf8Columns) column.finishRow(this.rowCount);
    this.rowCount++;
  }

  seal(): SealedBatch {
    const length = this.rowCount;
    const children = this.columns.map((column, i) => column.seal(this.schema.fields[i]!.type, length));
    const batch = new RecordBatch(
      this.schema,
      makeData({ type: new Struct(this.schema.fields), length, nullCount: 0, children }),
    );
    let bytes = 0;
    for (const child of children) bytes += dataBytes(child);
    const times = new BigInt64Array(this.timeColumn.words.buffer, 0, length);
    let minTimeNs = length ? times[0]! : 0n;
    let maxTimeNs = minTimeNs;
    for (let i = 1; i < length; i++) {
      const t = times[i]!;
      if (t < minTimeNs) minTimeNs = t;
      if (t > maxTimeNs) maxTimeNs = t;
    }
    return { batch, rows: length, bytes, minTimeNs, maxTimeNs };
  }
}

function utf8Data(values: readonly string[]): Data<Utf8> {
  const offsets = new Int32Array(values.length + 1);
  let bytes = new Uint8Array(values.reduce((n, v) => n + v.length * 3, 0));
  let used = 0;
  for (let i = 0; i < values.length; i++) {
    used += writeUtf8(values[i]!, bytes, used);
    offsets[i + 1] = used;
  }
  bytes = bytes.slice(0, used);
  return makeData({ type: new Utf8(), length: values.length, nullCount: 0, valueOffsets: offsets, data: bytes });
}

function makeColumn(spec: ColumnSpec, capacity: number): ColumnBuilder {
  switch (spec.type) {
    case 'time64ns':
    case 'int64': return new Int64Column(spec, capacity);
    case 'float64': return new Float64Column(spec, capacity);
    case 'boolean': return new BoolColumn(spec, capacity);
    case 'uint128': return new DictionaryColumn(spec, capacity);
    case 'string': return spec.dictionary ? new DictionaryColumn(spec, capacity) : new Utf8Column(spec, capacity);
  }
}

/** Bytes held by a column's buffers, dictionaries included. */
export function dataBytes(data: Data): number {
  let total = 0;
  for (const buffer of [data.values, data.valueOffsets, data.nullBitmap, data.typeIds]) {
    if (buffer) total += (buffer as ArrayBufferView).byteLength;
  }
  for (const child of data.children) total += dataBytes(child);
  if (data.dictionary) for (const chunk of data.dictionary.data) total += dataBytes(chunk);
  return total;
}

