// Column vectors the executor computes on: typed arrays, one per column and
// batch, read from and written to Arrow Data without per-row objects.
// Columns are declared non-nullable (src/tables/arrow.ts), so there are no
// validity bitmaps here.
import { DataType, Utf8, makeData, makeVector, type Bool, type Data, type Vector as ArrowVector } from 'apache-arrow';
import { arrowType } from '../tables/arrow.ts';
import type { ColumnType } from '../tables/schema.ts';
import type { PlanColumn } from './plan.ts';

/** Strings as Arrow keeps them: UTF-8 bytes and count+1 offsets (absolute into `bytes`, not necessarily starting at 0). */
export interface Utf8Values {
  readonly offsets: Int32Array;
  readonly bytes: Uint8Array;
}

export interface BigIntVector {
  readonly storage: 'bigint';
  readonly type: 'int64' | 'time64ns';
  readonly length: number;
  readonly values: BigInt64Array;
}

export interface FloatVector {
  readonly storage: 'float';
  readonly type: 'float64';
  readonly length: number;
  readonly values: Float64Array;
}

/** One byte per row, 0 or 1 (unpacked from Arrow's bitmap: simpler, faster kernels). */
export interface BoolVector {
  readonly storage: 'bool';
  readonly type: 'boolean';
  readonly length: number;
  readonly values: Uint8Array;
}

export interface Utf8Vector {
  readonly storage: 'utf8';
  readonly type: 'string' | 'uint128';
  readonly length: number;
  readonly strings: Utf8Values;
}

export interface DictVector {
  readonly storage: 'dict';
  readonly type: 'string' | 'uint128';
  readonly length: number;
  readonly codes: Int32Array;
  readonly dictionary: Utf8Values;
  /** The Arrow dictionary the codes index, reused zero-copy on output when present. */
  readonly arrowDictionary?: ArrowVector<Utf8>;
}

export type Vector = BigIntVector | FloatVector | BoolVector | Utf8Vector | DictVector;
export type StringVector = Utf8Vector | DictVector;

/** A constant operand (a literal): kernels broadcast it instead of materializing a column. */
export interface Scalar {
  readonly storage: 'scalar';
  readonly type: ColumnType;
  readonly value: bigint | number | boolean | string;
}

export type Operand = Vector | Scalar;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeUtf8(text: string): Uint8Array {
  return encoder.encode(text);
}

export function utf8Count(values: Utf8Values): number {
  return values.offsets.length - 1;
}

/** Decodes one string (edges and slow paths only; hot loops compare bytes). */
export function stringAt(values: Utf8Values, index: number): string {
  const start = values.offsets[index] ?? 0;
  const end = values.offsets[index + 1] ?? start;
  return decoder.decode(values.bytes.subarray(start, end));
}

/** The string in row `row` of a string vector. */
export function vectorStringAt(vector: StringVector, row: number): string {
  return vector.storage === 'dict' ? stringAt(vector.dictionary, vector.codes[row] ?? 0) : stringAt(vector.strings, row);
}

export function utf8FromStrings(strings: readonly string[]): Utf8Values {
  const parts = strings.map((s) => encoder.encode(s));
  let total = 0;
  for (const part of parts) total += part.length;
  const bytes = new Uint8Array(total);
  const offsets = new Int32Array(parts.length + 1);
  let at = 0;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as Uint8Array;
    bytes.set(part, at);
    at += part.length;
    offsets[i + 1] = at;
  }
  return { offsets, bytes };
}

// --- Arrow → vectors --------------------------------------------------------

const dictionaryCache = new WeakMap<ArrowVector<Utf8>, Utf8Values>();

function utf8FromArrowVector(vector: ArrowVector<Utf8>): Utf8Values {
  let cached = dictionaryCache.get(vector);
  if (!cached) {
    if (vector.data.length === 1) {
      cached = utf8FromArrowData(vector.data[0] as Data<Utf8>);
    } else {
      const strings: string[] = [];
      for (const data of vector.data) {
        const values = utf8FromArrowData(data);
        for (let i = 0; i < data.length; i++) strings.push(stringAt(values, i));
      }
      cached = utf8FromStrings(strings);
    }
    dictionaryCache.set(vector, cached);
  }
  return cached;
}

// arrow-js positions `values` and `valueOffsets` at the first row when it
// slices Data; `offset` only still applies to bitmaps (booleans, validity).

function utf8FromArrowData(data: Data<Utf8>): Utf8Values {
  return { offsets: data.valueOffsets.subarray(0, data.length + 1), bytes: data.values };
}

/** Wraps one column of a record batch (zero-copy except booleans, which are unpacked). */
export function vectorFromArrow(data: Data, type: ColumnType): Vector {
  const { offset, length } = data;
  switch (type) {
    case 'int64':
    case 'time64ns':
      return { storage: 'bigint', type, length, values: (data.values as BigInt64Array).subarray(0, length) };
    case 'float64':
      return { storage: 'float', type, length, values: (data.values as Float64Array).subarray(0, length) };
    case 'boolean': {
      const bits = data.values as Uint8Array;
      const values = new Uint8Array(length);
      for (let i = 0; i < length; i++) {
        const bit = offset + i;
        values[i] = ((bits[bit >> 3] ?? 0) >> (bit & 7)) & 1;
      }
      return { storage: 'bool', type, length, values };
    }
    case 'string':
    case 'uint128': {
      if (data.dictionary) {
        const arrowDictionary = data.dictionary as ArrowVector<Utf8>;
        return {
          storage: 'dict', type, length,
          codes: (data.values as Int32Array).subarray(0, length),
          dictionary: utf8FromArrowVector(arrowDictionary),
          arrowDictionary,
        };
      }
      return { storage: 'utf8', type, length, strings: utf8FromArrowData(data as Data<Utf8>) };
    }
  }
}

// --- vectors → Arrow --------------------------------------------------------

/** The Arrow type a plan column is output as (same mapping as the store's). */
export function planColumnArrowType(column: PlanColumn): DataType {
  return arrowType({ name: column.name, type: column.type, description: '', dictionary: column.dictionary === true });
}

function rebasedUtf8(values: Utf8Values, count: number): Utf8Values {
  const first = values.offsets[0] ?? 0;
  if (first === 0) return values;
  const offsets = new Int32Array(count + 1);
  for (let i = 0; i <= count; i++) offsets[i] = (values.offsets[i] ?? first) - first;
  return { offsets, bytes: values.bytes.subarray(first, values.offsets[count] ?? first) };
}

function arrowUtf8Vector(values: Utf8Values): ArrowVector<Utf8> {
  const count = utf8Count(values);
  const rebased = rebasedUtf8(values, count);
  return makeVector(makeData({ type: new Utf8(), length: count, valueOffsets: rebased.offsets, data: rebased.bytes }));
}

/**
 * Arrow Data for one output column. `type` is the output schema's field type
 * (one instance per field, so dictionary ids agree across batches).
 */
export function vectorToArrow(vector: Vector, type: DataType): Data {
  switch (vector.storage) {
    case 'bigint':
    case 'float':
      return makeData({ type, length: vector.length, data: vector.values } as never);
    case 'bool': {
      const packed = new Uint8Array((vector.length + 7) >> 3);
      const values = vector.values;
      for (let i = 0; i < values.length; i++) if (values[i] === 1) packed[i >> 3] = (packed[i >> 3] ?? 0) | (1 << (i & 7));
      return makeData({ type: type as Bool, length: vector.length, data: packed });
    }
    case 'utf8':
    case 'dict': {
      if (DataType.isDictionary(type)) {
        const dict = vector.storage === 'dict' ? vector : dictionaryEncode(vector);
        const dictionary = dict.arrowDictionary ?? arrowUtf8Vector(dict.dictionary);
        return makeData({ type, length: dict.length, data: dict.codes, dictionary } as never);
      }
      const plain = vector.storage === 'utf8' ? vector : dictionaryDecode(vector);
      const rebased = rebasedUtf8(plain.strings, plain.length);
      return makeData({ type: type as Utf8, length: plain.length, valueOffsets: rebased.offsets, data: rebased.bytes });
    }
  }
}

/** Plain strings of a dictionary vector. */
export function dictionaryDecode(vector: DictVector): Utf8Vector {
  const { codes, dictionary, length } = vector;
  const offsets = new Int32Array(length + 1);
  let total = 0;
  for (let i = 0; i < length; i++) {
    const code = codes[i] as number;
    total += (dictionary.offsets[code + 1] as number) - (dictionary.offsets[code] as number);
    offsets[i + 1] = total;
  }
  const bytes = new Uint8Array(total);
  const source = dictionary.bytes;
  let at = 0;
  for (let i = 0; i < length; i++) {
    const code = codes[i] as number;
    const end = dictionary.offsets[code + 1] as number;
    for (let j = dictionary.offsets[code] as number; j < end; j++) bytes[at++] = source[j] as number;
  }
  return { storage: 'utf8', type: vector.type, length, strings: { offsets, bytes } };
}

/** Dictionary-encodes plain strings (edges only: decodes each distinct string once). */
export function dictionaryEncode(vector: Utf8Vector): DictVector {
  const codesByString = new Map<string, number>();
  const distinct: string[] = [];
  const codes = new Int32Array(vector.length);
  for (let i = 0; i < vector.length; i++) {
    const text = stringAt(vector.strings, i);
    let code = codesByString.get(text);
    if (code === undefined) {
      code = distinct.length;
      distinct.push(text);
      codesByString.set(text, code);
    }
    codes[i] = code;
  }
  return { storage: 'dict', type: vector.type, length: vector.length, codes, dictionary: utf8FromStrings(distinct) };
}

// --- int64 without BigInt ------------------------------------------------------

/** Whether typed arrays are little-endian here (the Int32Array views below assume it). */
export const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The 32-bit halves of int64 values, [low, high] per value (little-endian only). */
export function int64Words(values: BigInt64Array): Int32Array {
  return new Int32Array(values.buffer, values.byteOffset, values.length * 2);
}

/**
 * Number(value) of each of the first `length` values, without a BigInt per
 * row: high·2³² + low is exact and rounds once, like Number(bigint).
 */
export function int64ToFloat(values: BigInt64Array, length: number, out: Float64Array = new Float64Array(length)): Float64Array {
  if (!LITTLE_ENDIAN) {
    for (let i = 0; i < length; i++) out[i] = Number(values[i] as bigint);
    return out;
  }
  const words = int64Words(values);
  for (let i = 0; i < length; i++) out[i] = (words[2 * i + 1] as number) * 4294967296 + ((words[2 * i] as number) >>> 0);
  return out;
}

/** int64ToFloat of values[rows[i]] for i < length: a filter's kept rows converted without gathering them first. */
export function int64ToFloatAt(values: BigInt64Array, rows: Int32Array, length: number, out: Float64Array = new Float64Array(length)): Float64Array {
  if (!LITTLE_ENDIAN) {
    for (let i = 0; i < length; i++) out[i] = Number(values[rows[i] as number] as bigint);
    return out;
  }
  const words = int64Words(values);
  for (let i = 0; i < length; i++) {
    const row = 2 * (rows[i] as number);
    out[i] = (words[row + 1] as number) * 4294967296 + ((words[row] as number) >>> 0);
  }
  return out;
}

/**
 * Sets mask[i] to 1 where start <= values[i] < end, else 0; returns how many
 * are 1. Compares 32-bit halves (no BigInt per row) when the bounds are int64s.
 */
export function int64RangeMask(values: BigInt64Array, start: bigint, end: bigint, mask: Uint8Array): number {
  const n = values.length;
  let count = 0;
  const inInt64 = (v: bigint): boolean => BigInt.asIntN(64, v) === v;
  if (!LITTLE_ENDIAN || !inInt64(start) || !inInt64(end)) {
    for (let i = 0; i < n; i++) {
      const t = values[i] as bigint;
      const inside = t >= start && t < end ? 1 : 0;
      mask[i] = inside;
      count += inside;
    }
    return count;
  }
  const startHi = Number(start >> 32n);
  const startLo = Number(BigInt.asUintN(32, start));
  const endHi = Number(end >> 32n);
  const endLo = Number(BigInt.asUintN(32, end));
  const words = int64Words(values);
  for (let i = 0; i < n; i++) {
    const hi = words[2 * i + 1] as number;
    const lo = (words[2 * i] as number) >>> 0;
    const inside = (hi > startHi || (hi === startHi && lo >= startLo)) && (hi < endHi || (hi === endHi && lo < endLo)) ? 1 : 0;
    mask[i] = inside;
    count += inside;
  }
  return count;
}

// --- selection ------------------------------------------------------------------

/** Row indexes where `mask` is 1 (`count` of them, as counted by the caller). */
export function selectionFromMask(mask: Uint8Array, count: number): Int32Array {
  const selection = new Int32Array(count);
  let at = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i] === 1) selection[at++] = i;
  return selection;
}

/** The rows of `vector` at `selection`, in that order. */
export function gather(vector: Vector, selection: Int32Array): Vector {
  const n = selection.length;
  switch (vector.storage) {
    case 'bigint': {
      // Copied as 32-bit halves: no BigInt per row.
      const src = int64Words(vector.values);
      const out = new BigInt64Array(n);
      const dst = int64Words(out);
      for (let i = 0; i < n; i++) {
        const row = (selection[i] as number) * 2;
        dst[2 * i] = src[row] as number;
        dst[2 * i + 1] = src[row + 1] as number;
      }
      return { storage: 'bigint', type: vector.type, length: n, values: out };
    }
    case 'float': {
      const src = vector.values;
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = src[selection[i] as number] as number;
      return { storage: 'float', type: vector.type, length: n, values: out };
    }
    case 'bool': {
      const src = vector.values;
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = src[selection[i] as number] as number;
      return { storage: 'bool', type: vector.type, length: n, values: out };
    }
    case 'dict': {
      const src = vector.codes;
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = src[selection[i] as number] as number;
      return { ...vector, length: n, codes: out };
    }
    case 'utf8': {
      const { offsets: srcOffsets, bytes: srcBytes } = vector.strings;
      const offsets = new Int32Array(n + 1);
      let total = 0;
      for (let i = 0; i < n; i++) {
        const row = selection[i] as number;
        total += (srcOffsets[row + 1] as number) - (srcOffsets[row] as number);
        offsets[i + 1] = total;
      }
      const bytes = new Uint8Array(total);
      let at = 0;
      for (let i = 0; i < n; i++) {
        const row = selection[i] as number;
        const end = srcOffsets[row + 1] as number;
        for (let j = srcOffsets[row] as number; j < end; j++) bytes[at++] = srcBytes[j] as number;
      }
      return { storage: 'utf8', type: vector.type, length: n, strings: { offsets, bytes } };
    }
  }
}

/** Rows [start, end) of `vector`, zero-copy. */
export function slice(vector: Vector, start: number, end: number): Vector {
  const length = end - start;
  switch (vector.storage) {
    case 'bigint': return { ...vector, length, values: vector.values.subarray(start, end) };
    case 'float': return { ...vector, length, values: vector.values.subarray(start, end) };
    case 'bool': return { ...vector, length, values: vector.values.subarray(start, end) };
    case 'dict': return { ...vector, length, codes: vector.codes.subarray(start, end) };
    case 'utf8': return { ...vector, length, strings: { offsets: vector.strings.offsets.subarray(start, end + 1), bytes: vector.strings.bytes } };
  }
}

/** A constant as a column of `length` rows (fallback for kernels without a scalar fast path). */
export function broadcast(scalar: Scalar, length: number): Vector {
  const { type, value } = scalar;
  switch (type) {
    case 'int64':
    case 'time64ns':
      return { storage: 'bigint', type, length, values: new BigInt64Array(length).fill(value as bigint) };
    case 'float64':
      return { storage: 'float', type, length, values: new Float64Array(length).fill(value as number) };
    case 'boolean':
      return { storage: 'bool', type, length, values: new Uint8Array(length).fill(value === true ? 1 : 0) };
    case 'string':
    case 'uint128':
      return { storage: 'dict', type, length, codes: new Int32Array(length), dictionary: utf8FromStrings([value as string]) };
  }
}

export function asVector(operand: Operand, length: number): Vector {
  return operand.storage === 'scalar' ? broadcast(operand, length) : operand;
}
