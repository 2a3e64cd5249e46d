// Column-at-a-time kernels behind the function registry. Each loop runs over
// typed arrays with the operator chosen outside the loop, so V8 keeps every
// loop monomorphic; scalar operands (literals) get their own fast paths where
// filters need them (column op literal), and are broadcast otherwise.
import type { ColumnType } from '../tables/schema.ts';
import type { KernelContext } from './metadata.ts';
import {
  asVector, encodeUtf8, int64Words, LITTLE_ENDIAN, stringAt, utf8FromStrings, vectorStringAt,
  type BigIntVector, type BoolVector, type FloatVector, type Operand, type Scalar, type StringVector, type Vector,
} from './vector.ts';

/**
 * A kernel gets its operands (vectors of `length` rows, or scalars) and
 * returns a vector of `length` rows of `resultType`; `context` carries what
 * metadata look-ups need.
 */
export type Kernel = (args: readonly Operand[], length: number, resultType: ColumnType, context: KernelContext) => Vector;

export type CompareOp = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';
const flipped: Readonly<Record<CompareOp, CompareOp>> = Object.freeze({ eq: 'eq', ne: 'ne', lt: 'gt', le: 'ge', gt: 'lt', ge: 'le' });

function boolVector(values: Uint8Array): BoolVector {
  return { storage: 'bool', type: 'boolean', length: values.length, values };
}

function arg(args: readonly Operand[], index: number): Operand {
  const operand = args[index];
  if (!operand) throw new Error(`evaluate kernel: missing argument ${index + 1}`);
  return operand;
}

// --- comparisons ------------------------------------------------------------------

/** -1, 0 or 1: the int64 of words (lo, hi) against (sLo, sHi), high words signed, low words unsigned. */
function compareWords(lo: number, hi: number, sLo: number, sHi: number): number {
  if (hi !== sHi) return hi < sHi ? -1 : 1;
  if (lo === sLo) return 0;
  return lo >>> 0 < sLo >>> 0 ? -1 : 1;
}

/** compareBigScalar on the values' 32-bit halves: no BigInt per row (filters on int64 columns, e.g. resp_status < 500). */
function compareBigScalarWords(a: BigInt64Array, s: bigint, op: CompareOp, out: Uint8Array): void {
  const n = a.length;
  const words = int64Words(a);
  const sLo = Number(BigInt.asIntN(32, s));
  const sHi = Number(s >> 32n);
  switch (op) {
    case 'eq': for (let i = 0; i < n; i++) out[i] = words[2 * i] === sLo && words[2 * i + 1] === sHi ? 1 : 0; break;
    case 'ne': for (let i = 0; i < n; i++) out[i] = words[2 * i] === sLo && words[2 * i + 1] === sHi ? 0 : 1; break;
    case 'lt': for (let i = 0; i < n; i++) out[i] = compareWords(words[2 * i] as number, words[2 * i + 1] as number, sLo, sHi) < 0 ? 1 : 0; break;
    case 'le': for (let i = 0; i < n; i++) out[i] = compareWords(words[2 * i] as number, words[2 * i + 1] as number, sLo, sHi) <= 0 ? 1 : 0; break;
    case 'gt': for (let i = 0; i < n; i++) out[i] = compareWords(words[2 * i] as number, words[2 * i + 1] as number, sLo, sHi) > 0 ? 1 : 0; break;
    case 'ge': for (let i = 0; i < n; i++) out[i] = compareWords(words[2 * i] as number, words[2 * i + 1] as number, sLo, sHi) >= 0 ? 1 : 0; break;
  }
}

function compareBigScalar(a: BigInt64Array, s: bigint, op: CompareOp, out: Uint8Array): void {
  if (LITTLE_ENDIAN && BigInt.asIntN(64, s) === s) {
    compareBigScalarWords(a, s, op, out);
    return;
  }
  const n = a.length;
  switch (op) {
    case 'eq': for (let i = 0; i < n; i++) out[i] = a[i] === s ? 1 : 0; break;
    case 'ne': for (let i = 0; i < n; i++) out[i] = a[i] !== s ? 1 : 0; break;
    case 'lt': for (let i = 0; i < n; i++) out[i] = (a[i] as bigint) < s ? 1 : 0; break;
    case 'le': for (let i = 0; i < n; i++) out[i] = (a[i] as bigint) <= s ? 1 : 0; break;
    case 'gt': for (let i = 0; i < n; i++) out[i] = (a[i] as bigint) > s ? 1 : 0; break;
    case 'ge': for (let i = 0; i < n; i++) out[i] = (a[i] as bigint) >= s ? 1 : 0; break;
  }
}

function compareBigVectors(a: BigInt64Array, b: BigInt64Array, op: CompareOp, out: Uint8Array): void {
  const n = a.length;
  switch (op) {
    case 'eq': for (let i = 0; i < n; i++) out[i] = a[i] === b[i] ? 1 : 0; break;
    case 'ne': for (let i = 0; i < n; i++) out[i] = a[i] !== b[i] ? 1 : 0; break;
    case 'lt': for (let i = 0; i < n; i++) out[i] = (a[i] as bigint) < (b[i] as bigint) ? 1 : 0; break;
    case 'le': for (let i = 0; i < n; i++) out[i] = (a[i] as bigint) <= (b[i] as bigint) ? 1 : 0; break;
    case 'gt': for (let i = 0; i < n; i++) out[i] = (a[i] as bigint) > (b[i] as bigint) ? 1 : 0; break;
    case 'ge': for (let i = 0; i < n; i++) out[i] = (a[i] as bigint) >= (b[i] as bigint) ? 1 : 0; break;
  }
}

function compareFloatScalar(a: Float64Array, s: number, op: CompareOp, out: Uint8Array): void {
  const n = a.length;
  switch (op) {
    case 'eq': for (let i = 0; i < n; i++) out[i] = a[i] === s ? 1 : 0; break;
    case 'ne': for (let i = 0; i < n; i++) out[i] = a[i] !== s ? 1 : 0; break;
    case 'lt': for (let i = 0; i < n; i++) out[i] = (a[i] as number) < s ? 1 : 0; break;
    case 'le': for (let i = 0; i < n; i++) out[i] = (a[i] as number) <= s ? 1 : 0; break;
    case 'gt': for (let i = 0; i < n; i++) out[i] = (a[i] as number) > s ? 1 : 0; break;
    case 'ge': for (let i = 0; i < n; i++) out[i] = (a[i] as number) >= s ? 1 : 0; break;
  }
}

function compareFloatVectors(a: Float64Array, b: Float64Array, op: CompareOp, out: Uint8Array): void {
  const n = a.length;
  switch (op) {
    case 'eq': for (let i = 0; i < n; i++) out[i] = a[i] === b[i] ? 1 : 0; break;
    case 'ne': for (let i = 0; i < n; i++) out[i] = a[i] !== b[i] ? 1 : 0; break;
    case 'lt': for (let i = 0; i < n; i++) out[i] = (a[i] as number) < (b[i] as number) ? 1 : 0; break;
    case 'le': for (let i = 0; i < n; i++) out[i] = (a[i] as number) <= (b[i] as number) ? 1 : 0; break;
    case 'gt': for (let i = 0; i < n; i++) out[i] = (a[i] as number) > (b[i] as number) ? 1 : 0; break;
    case 'ge': for (let i = 0; i < n; i++) out[i] = (a[i] as number) >= (b[i] as number) ? 1 : 0; break;
  }
}

function holds(order: number, op: CompareOp): boolean {
  switch (op) {
    case 'eq': return order === 0;
    case 'ne': return order !== 0;
    case 'lt': return order < 0;
    case 'le': return order <= 0;
    case 'gt': return order > 0;
    case 'ge': return order >= 0;
  }
}

/** Code point order, the order of UTF-8 bytes. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function bytesEqualAt(bytes: Uint8Array, start: number, end: number, needle: Uint8Array): boolean {
  if (end - start !== needle.length) return false;
  for (let j = 0; j < needle.length; j++) if (bytes[start + j] !== needle[j]) return false;
  return true;
}

function compareStringScalar(a: StringVector, s: string, op: CompareOp, out: Uint8Array): void {
  if (a.storage === 'dict') {
    // Decide once per dictionary entry, then look the codes up.
    const entries = a.dictionary.offsets.length - 1;
    const lookup = new Uint8Array(entries);
    for (let code = 0; code < entries; code++) lookup[code] = holds(compareText(stringAt(a.dictionary, code), s), op) ? 1 : 0;
    const codes = a.codes;
    for (let i = 0; i < codes.length; i++) out[i] = lookup[codes[i] as number] as number;
    return;
  }
  if (op === 'eq' || op === 'ne') {
    const needle = encodeUtf8(s);
    const { offsets, bytes } = a.strings;
    const hit = op === 'eq' ? 1 : 0;
    for (let i = 0; i < a.length; i++) out[i] = bytesEqualAt(bytes, offsets[i] as number, offsets[i + 1] as number, needle) ? hit : 1 - hit;
    return;
  }
  for (let i = 0; i < a.length; i++) out[i] = holds(compareText(stringAt(a.strings, i), s), op) ? 1 : 0;
}

function compareStringVectors(a: StringVector, b: StringVector, op: CompareOp, out: Uint8Array): void {
  if (a.storage === 'dict' && b.storage === 'dict' && a.dictionary === b.dictionary && (op === 'eq' || op === 'ne')) {
    const hit = op === 'eq' ? 1 : 0;
    for (let i = 0; i < a.length; i++) out[i] = a.codes[i] === b.codes[i] ? hit : 1 - hit;
    return;
  }
  for (let i = 0; i < a.length; i++) out[i] = holds(compareText(vectorStringAt(a, i), vectorStringAt(b, i)), op) ? 1 : 0;
}

function compareBoolScalar(a: Uint8Array, s: boolean, op: CompareOp, out: Uint8Array): void {
  const v = s ? 1 : 0;
  for (let i = 0; i < a.length; i++) out[i] = holds((a[i] as number) - v, op) ? 1 : 0;
}

function compareVectorScalar(a: Vector, s: Scalar, op: CompareOp, out: Uint8Array): void {
  switch (a.storage) {
    case 'bigint': return compareBigScalar(a.values, s.value as bigint, op, out);
    case 'float': return compareFloatScalar(a.values, s.value as number, op, out);
    case 'bool': return compareBoolScalar(a.values, s.value as boolean, op, out);
    case 'utf8':
    case 'dict': return compareStringScalar(a, s.value as string, op, out);
  }
}

function compareVectors(a: Vector, b: Vector, op: CompareOp, out: Uint8Array): void {
  if (a.storage === 'bigint' && b.storage === 'bigint') return compareBigVectors(a.values, b.values, op, out);
  if (a.storage === 'float' && b.storage === 'float') return compareFloatVectors(a.values, b.values, op, out);
  if (a.storage === 'bool' && b.storage === 'bool') {
    for (let i = 0; i < a.length; i++) out[i] = holds((a.values[i] as number) - (b.values[i] as number), op) ? 1 : 0;
    return;
  }
  if ((a.storage === 'utf8' || a.storage === 'dict') && (b.storage === 'utf8' || b.storage === 'dict')) return compareStringVectors(a, b, op, out);
  throw new Error(`compare ${a.type} with ${b.type}: no kernel (the compiler should have refused this)`);
}

export function compareKernel(op: CompareOp): Kernel {
  return (args, length) => {
    const a = arg(args, 0);
    const b = arg(args, 1);
    const out = new Uint8Array(length);
    if (a.storage !== 'scalar' && b.storage === 'scalar') compareVectorScalar(a, b, op, out);
    else if (a.storage === 'scalar' && b.storage !== 'scalar') compareVectorScalar(b, a, flipped[op], out);
    else compareVectors(asVector(a, length), asVector(b, length), op, out);
    return boolVector(out);
  };
}

// --- arithmetic -------------------------------------------------------------------

export type ArithOp = 'add' | 'sub' | 'mul' | 'mod';

/**
 * 64-bit integer arithmetic wraps around (two's complement), like Pixie's
 * C++ kernels; `%` truncates toward zero (C semantics) and x % 0 is 0
 * rather than an error, so one bad row never fails a query.
 */
function bigArith(a: BigInt64Array, b: BigInt64Array | bigint, op: ArithOp, out: BigInt64Array): void {
  const n = out.length;
  if (typeof b === 'bigint') {
    switch (op) {
      case 'add': for (let i = 0; i < n; i++) out[i] = (a[i] as bigint) + b; break;
      case 'sub': for (let i = 0; i < n; i++) out[i] = (a[i] as bigint) - b; break;
      case 'mul': for (let i = 0; i < n; i++) out[i] = BigInt.asIntN(64, (a[i] as bigint) * b); break;
      case 'mod': if (b === 0n) out.fill(0n); else for (let i = 0; i < n; i++) out[i] = (a[i] as bigint) % b; break;
    }
    return;
  }
  switch (op) {
    case 'add': for (let i = 0; i < n; i++) out[i] = (a[i] as bigint) + (b[i] as bigint); break;
    case 'sub': for (let i = 0; i < n; i++) out[i] = (a[i] as bigint) - (b[i] as bigint); break;
    case 'mul': for (let i = 0; i < n; i++) out[i] = BigInt.asIntN(64, (a[i] as bigint) * (b[i] as bigint)); break;
    case 'mod': for (let i = 0; i < n; i++) { const d = b[i] as bigint; out[i] = d === 0n ? 0n : (a[i] as bigint) % d; } break;
  }
}

function floatArith(a: Float64Array, b: Float64Array | number, op: ArithOp | 'div', out: Float64Array): void {
  const n = out.length;
  if (typeof b === 'number') {
    switch (op) {
      case 'add': for (let i = 0; i < n; i++) out[i] = (a[i] as number) + b; break;
      case 'sub': for (let i = 0; i < n; i++) out[i] = (a[i] as number) - b; break;
      case 'mul': for (let i = 0; i < n; i++) out[i] = (a[i] as number) * b; break;
      case 'div': for (let i = 0; i < n; i++) out[i] = (a[i] as number) / b; break;
      case 'mod': for (let i = 0; i < n; i++) out[i] = (a[i] as number) % b; break;
    }
    return;
  }
  switch (op) {
    case 'add': for (let i = 0; i < n; i++) out[i] = (a[i] as number) + (b[i] as number); break;
    case 'sub': for (let i = 0; i < n; i++) out[i] = (a[i] as number) - (b[i] as number); break;
    case 'mul': for (let i = 0; i < n; i++) out[i] = (a[i] as number) * (b[i] as number); break;
    case 'div': for (let i = 0; i < n; i++) out[i] = (a[i] as number) / (b[i] as number); break;
    case 'mod': for (let i = 0; i < n; i++) out[i] = (a[i] as number) % (b[i] as number); break;
  }
}

/** int64/time64ns arithmetic; the result type (int64 or time64ns) comes from the overload. */
export function bigArithKernel(op: ArithOp): Kernel {
  return (args, length, resultType) => {
    const a = asVector(arg(args, 0), length) as BigIntVector;
    const b = arg(args, 1);
    const out = new BigInt64Array(length);
    bigArith(a.values, b.storage === 'scalar' ? (b.value as bigint) : (b as BigIntVector).values, op, out);
    return { storage: 'bigint', type: resultType as 'int64' | 'time64ns', length, values: out };
  };
}

export function floatArithKernel(op: ArithOp | 'div'): Kernel {
  return (args, length) => {
    const a = asVector(arg(args, 0), length) as FloatVector;
    const b = arg(args, 1);
    const out = new Float64Array(length);
    floatArith(a.values, b.storage === 'scalar' ? (b.value as number) : (b as FloatVector).values, op, out);
    return { storage: 'float', type: 'float64', length, values: out };
  };
}

export const negateKernel: Kernel = (args, length) => {
  const a = asVector(arg(args, 0), length);
  if (a.storage === 'bigint') {
    const out = new BigInt64Array(length);
    for (let i = 0; i < length; i++) out[i] = -(a.values[i] as bigint);
    return { storage: 'bigint', type: a.type, length, values: out };
  }
  const values = (a as FloatVector).values;
  const out = new Float64Array(length);
  for (let i = 0; i < length; i++) out[i] = -(values[i] as number);
  return { storage: 'float', type: 'float64', length, values: out };
};

/** int64 → float64 (the compiler inserts it where an int meets a float). */
export const toFloatKernel: Kernel = (args, length) => {
  const a = asVector(arg(args, 0), length) as BigIntVector;
  const out = new Float64Array(length);
  for (let i = 0; i < length; i++) out[i] = Number(a.values[i] as bigint);
  return { storage: 'float', type: 'float64', length, values: out };
};

/** `scale` × an int64 (px.minutes and friends: durations in ns). */
export function scaleKernel(scale: bigint): Kernel {
  return (args, length) => {
    const a = asVector(arg(args, 0), length) as BigIntVector;
    const out = new BigInt64Array(length);
    for (let i = 0; i < length; i++) out[i] = BigInt.asIntN(64, (a.values[i] as bigint) * scale);
    return { storage: 'bigint', type: 'int64', length, values: out };
  };
}

// --- logic ------------------------------------------------------------------------

export function logicKernel(op: 'and' | 'or'): Kernel {
  return (args, length) => {
    let a = arg(args, 0);
    let b = arg(args, 1);
    if (a.storage === 'scalar' && b.storage !== 'scalar') [a, b] = [b, a];
    const out = new Uint8Array(length);
    if (b.storage === 'scalar') {
      const s = b.value === true;
      const values = (asVector(a, length) as BoolVector).values;
      if (op === 'and' ? s : !s) out.set(values);
      else if (op === 'or') out.fill(1);
      return boolVector(out);
    }
    const x = (a as BoolVector).values;
    const y = (b as BoolVector).values;
    if (op === 'and') for (let i = 0; i < length; i++) out[i] = (x[i] as number) & (y[i] as number);
    else for (let i = 0; i < length; i++) out[i] = (x[i] as number) | (y[i] as number);
    return boolVector(out);
  };
}

export const notKernel: Kernel = (args, length) => {
  const values = (asVector(arg(args, 0), length) as BoolVector).values;
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = 1 - (values[i] as number);
  return boolVector(out);
};

// --- strings ----------------------------------------------------------------------

/**
 * Applies `fn` to every string of a string operand: once per dictionary
 * entry for dictionary vectors, once per row otherwise.
 */
function perString<T>(operand: Operand, length: number, fn: (text: string) => T, out: { set(row: number, value: T): void }): void {
  const vector = asVector(operand, length) as StringVector;
  if (vector.storage === 'dict') {
    const entries = vector.dictionary.offsets.length - 1;
    const results: T[] = new Array<T>(entries);
    for (let code = 0; code < entries; code++) results[code] = fn(stringAt(vector.dictionary, code));
    for (let i = 0; i < length; i++) out.set(i, results[vector.codes[i] as number] as T);
    return;
  }
  for (let i = 0; i < length; i++) out.set(i, fn(stringAt(vector.strings, i)));
}

/** A string → string function; dictionary vectors stay dictionary vectors (the function runs per entry). */
export function stringMapKernel(fn: (text: string) => string): Kernel {
  return (args, length) => {
    const vector = asVector(arg(args, 0), length) as StringVector;
    if (vector.storage === 'dict') {
      const entries = vector.dictionary.offsets.length - 1;
      const mapped: string[] = [];
      for (let code = 0; code < entries; code++) mapped.push(fn(stringAt(vector.dictionary, code)));
      return { storage: 'dict', type: 'string', length, codes: vector.codes, dictionary: utf8FromStrings(mapped) };
    }
    const strings: string[] = new Array<string>(length);
    for (let i = 0; i < length; i++) strings[i] = fn(stringAt(vector.strings, i));
    return { storage: 'utf8', type: 'string', length, strings: utf8FromStrings(strings) };
  };
}

export const containsKernel: Kernel = (args, length) => {
  const needle = arg(args, 1);
  const out = new Uint8Array(length);
  if (needle.storage === 'scalar') {
    const text = needle.value as string;
    perString(arg(args, 0), length, (s) => (s.includes(text) ? 1 : 0), { set: (row, value) => { out[row] = value; } });
  } else {
    const haystack = asVector(arg(args, 0), length) as StringVector;
    const needles = needle as StringVector;
    for (let i = 0; i < length; i++) out[i] = vectorStringAt(haystack, i).includes(vectorStringAt(needles, i)) ? 1 : 0;
  }
  return boolVector(out);
};

/** Byte length of each string, like Pixie's `length`. */
export const byteLengthKernel: Kernel = (args, length) => {
  const vector = asVector(arg(args, 0), length) as StringVector;
  const out = new BigInt64Array(length);
  if (vector.storage === 'dict') {
    const { offsets } = vector.dictionary;
    for (let i = 0; i < length; i++) { const c = vector.codes[i] as number; out[i] = BigInt((offsets[c + 1] as number) - (offsets[c] as number)); }
  } else {
    const { offsets } = vector.strings;
    for (let i = 0; i < length; i++) out[i] = BigInt((offsets[i + 1] as number) - (offsets[i] as number));
  }
  return { storage: 'bigint', type: 'int64', length, values: out };
};

export const concatKernel: Kernel = (args, length) => {
  const a = asVector(arg(args, 0), length) as StringVector;
  const b = asVector(arg(args, 1), length) as StringVector;
  const strings: string[] = new Array<string>(length);
  for (let i = 0; i < length; i++) strings[i] = vectorStringAt(a, i) + vectorStringAt(b, i);
  return { storage: 'utf8', type: 'string', length, strings: utf8FromStrings(strings) };
};
