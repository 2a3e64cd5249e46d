// The px.* library beyond operators: math, strings, regexes, JSON, time,
// upids, URIs and the Kubernetes look-ups (through the MetadataResolver in the
// kernel context). Hot numeric functions have typed-array loops; string
// functions run once per dictionary entry when their only varying argument
// is dictionary-encoded, else once per row.
import type { ColumnType } from '../tables/schema.ts';
import { parseUpid } from '../agent/upid.ts';
import { parseDurationNs } from '../common/units.ts';
import type { ScalarFunction } from './function.registry.ts';
import type { IpProperty, KernelContext, PodIdProperty, PodNameProperty, ServiceIdProperty, UpidProperty } from './metadata.ts';
import type { Kernel } from './scalar.kernels.ts';
import {
  asVector, int64Words, LITTLE_ENDIAN, stringAt, utf8FromStrings, vectorStringAt,
  type BigIntVector, type BoolVector, type FloatVector, type Operand, type StringVector, type Utf8Vector, type Vector,
} from './vector.ts';

type Value = bigint | number | boolean | string;

function valueAt(operand: Operand, row: number): Value {
  switch (operand.storage) {
    case 'scalar': return operand.value;
    case 'bigint': return operand.values[row] as bigint;
    case 'float': return operand.values[row] as number;
    case 'bool': return operand.values[row] === 1;
    case 'utf8':
    case 'dict': return vectorStringAt(operand, row);
  }
}

function fromValues(type: ColumnType, values: readonly Value[]): Vector {
  const length = values.length;
  switch (type) {
    case 'int64':
    case 'time64ns': return { storage: 'bigint', type, length, values: BigInt64Array.from(values as bigint[]) };
    case 'float64': return { storage: 'float', type, length, values: Float64Array.from(values as number[]) };
    case 'boolean': return { storage: 'bool', type, length, values: Uint8Array.from(values as boolean[], (v) => (v ? 1 : 0)) };
    case 'string':
    case 'uint128': return { storage: 'utf8', type, length, strings: utf8FromStrings(values as string[]) };
  }
}

/**
 * A kernel from a per-value function. When exactly one argument varies and
 * it is dictionary-encoded, `fn` runs once per dictionary entry (and string
 * results stay dictionary-encoded); otherwise once per row.
 */
function rowKernel(fn: (args: readonly Value[], context: KernelContext) => Value): Kernel {
  return (args, length, resultType, context) => {
    const varying = args.filter((a) => a.storage !== 'scalar');
    if (varying.length === 1 && varying[0]?.storage === 'dict') {
      const dict = varying[0];
      const at = args.indexOf(dict);
      const entries = dict.dictionary.offsets.length - 1;
      const entryValues: Value[] = new Array<Value>(entries);
      const values = args.map((a) => (a.storage === 'scalar' ? a.value : ''));
      for (let code = 0; code < entries; code++) {
        values[at] = stringAt(dict.dictionary, code);
        entryValues[code] = fn(values, context);
      }
      if (resultType === 'string' || resultType === 'uint128') {
        return { storage: 'dict', type: resultType, length, codes: dict.codes, dictionary: utf8FromStrings(entryValues as string[]) };
      }
      const rows: Value[] = new Array<Value>(length);
      for (let i = 0; i < length; i++) rows[i] = entryValues[dict.codes[i] as number] as Value;
      return fromValues(resultType, rows);
    }
    const rows: Value[] = new Array<Value>(length);
    const values: Value[] = new Array<Value>(args.length);
    for (let i = 0; i < length; i++) {
      for (let a = 0; a < args.length; a++) values[a] = valueAt(args[a] as Operand, i);
      rows[i] = fn(values, context);
    }
    return fromValues(resultType, rows);
  };
}

function str(value: Value | undefined): string {
  return typeof value === 'string' ? value : String(value);
}

function int(value: Value | undefined): bigint {
  return typeof value === 'bigint' ? value : BigInt(Math.trunc(Number(value)));
}

// --- numbers ------------------------------------------------------------------------

function floatMap(fn: (x: number) => number): Kernel {
  return (args, length) => {
    const input = (asVector(args[0] as Operand, length) as FloatVector).values;
    const out = new Float64Array(length);
    for (let i = 0; i < length; i++) out[i] = fn(input[i] as number);
    return { storage: 'float', type: 'float64', length, values: out };
  };
}

/** float64 → int64 through `fn` (floor, ceil, round); NaN and ±Infinity give 0. */
function floatToInt(fn: (x: number) => number): Kernel {
  return (args, length) => {
    const input = (asVector(args[0] as Operand, length) as FloatVector).values;
    const out = new BigInt64Array(length);
    for (let i = 0; i < length; i++) {
      const v = fn(input[i] as number);
      out[i] = Number.isFinite(v) ? BigInt.asIntN(64, BigInt(v)) : 0n;
    }
    return { storage: 'bigint', type: 'int64', length, values: out };
  };
}

const absIntKernel: Kernel = (args, length) => {
  const input = (asVector(args[0] as Operand, length) as BigIntVector).values;
  const out = new BigInt64Array(length);
  for (let i = 0; i < length; i++) { const v = input[i] as bigint; out[i] = v < 0n ? -v : v; }
  return { storage: 'bigint', type: 'int64', length, values: out };
};

const INT64_MAX = 0x7fffffffffffffffn;

/**
 * bin(x, size) for size > 0 without BigInt arithmetic per row: the bin of the
 * last value computed is kept as 32-bit halves of [start, last], and a value
 * inside it (times: nearly every row) is answered by word compares; only a
 * value outside computes its bin with BigInts.
 */
function binWords(input: BigInt64Array, length: number, size: bigint, out: BigInt64Array): void {
  const words = int64Words(input);
  const outWords = int64Words(out);
  let startLo = 0;
  let startHi = 0;
  let lastLo = 0;
  let lastHi = 0;
  let cached = false;
  for (let i = 0; i < length; i++) {
    const lo = words[2 * i] as number;
    const hi = words[2 * i + 1] as number;
    if (cached
      && (hi > startHi || (hi === startHi && lo >>> 0 >= startLo >>> 0))
      && (hi < lastHi || (hi === lastHi && lo >>> 0 <= lastLo >>> 0))) {
      outWords[2 * i] = startLo;
      outWords[2 * i + 1] = startHi;
      continue;
    }
    const v = input[i] as bigint;
    const r = v % size;
    const start = r < 0n ? v - r - size : v - r;
    out[i] = start;
    // A bin starting below the int64 range wraps (as it always has); it is not cached.
    cached = BigInt.asIntN(64, start) === start;
    if (!cached) continue;
    const last = start + size - 1n > INT64_MAX ? INT64_MAX : start + size - 1n;
    startLo = Number(BigInt.asIntN(32, start));
    startHi = Number(start >> 32n);
    lastLo = Number(BigInt.asIntN(32, last));
    lastHi = Number(last >> 32n);
  }
}

/** bin(x, size): x rounded down to a multiple of size (size <= 0 leaves x). Keeps int64 or time64ns. */
const binKernel: Kernel = (args, length, resultType) => {
  const input = (asVector(args[0] as Operand, length) as BigIntVector).values;
  const sizeArg = args[1] as Operand;
  const out = new BigInt64Array(length);
  if (sizeArg.storage === 'scalar') {
    const size = sizeArg.value as bigint;
    if (size <= 0n) out.set(input.subarray(0, length));
    else if (LITTLE_ENDIAN) binWords(input, length, size, out);
    else for (let i = 0; i < length; i++) { const v = input[i] as bigint; const r = v % size; out[i] = r < 0n ? v - r - size : v - r; }
  } else {
    const sizes = (sizeArg as BigIntVector).values;
    for (let i = 0; i < length; i++) {
      const v = input[i] as bigint;
      const size = sizes[i] as bigint;
      if (size <= 0n) out[i] = v;
      else { const r = v % size; out[i] = r < 0n ? v - r - size : v - r; }
    }
  }
  return { storage: 'bigint', type: resultType as 'int64' | 'time64ns', length, values: out };
};

/** The same 64-bit values under another type (time ↔ int64), zero-copy. */
const reinterpretKernel: Kernel = (args, length, resultType) => {
  const input = asVector(args[0] as Operand, length) as BigIntVector;
  return { storage: 'bigint', type: resultType as 'int64' | 'time64ns', length, values: input.values };
};

// --- select -------------------------------------------------------------------------

const selectKernel: Kernel = (args, length, resultType) => {
  const cond = args[0] as Operand;
  const a = args[1] as Operand;
  const b = args[2] as Operand;
  if (cond.storage === 'scalar') return asVector(cond.value === true ? a : b, length);
  const mask = (cond as BoolVector).values;
  const x = asVector(a, length);
  const y = asVector(b, length);
  switch (x.storage) {
    case 'bigint': {
      const xs = x.values; const ys = (y as BigIntVector).values; const out = new BigInt64Array(length);
      for (let i = 0; i < length; i++) out[i] = mask[i] === 1 ? xs[i] as bigint : ys[i] as bigint;
      return { storage: 'bigint', type: x.type, length, values: out };
    }
    case 'float': {
      const xs = x.values; const ys = (y as FloatVector).values; const out = new Float64Array(length);
      for (let i = 0; i < length; i++) out[i] = mask[i] === 1 ? xs[i] as number : ys[i] as number;
      return { storage: 'float', type: 'float64', length, values: out };
    }
    case 'bool': {
      const xs = x.values; const ys = (y as BoolVector).values; const out = new Uint8Array(length);
      for (let i = 0; i < length; i++) out[i] = mask[i] === 1 ? xs[i] as number : ys[i] as number;
      return { storage: 'bool', type: 'boolean', length, values: out };
    }
    default: {
      const xs = x as StringVector; const ys = y as StringVector;
      if (xs.storage === 'dict' && ys.storage === 'dict' && xs.dictionary === ys.dictionary) {
        const out = new Int32Array(length);
        for (let i = 0; i < length; i++) out[i] = mask[i] === 1 ? xs.codes[i] as number : ys.codes[i] as number;
        return { ...xs, length, codes: out };
      }
      const strings: string[] = new Array<string>(length);
      for (let i = 0; i < length; i++) strings[i] = mask[i] === 1 ? vectorStringAt(xs, i) : vectorStringAt(ys, i);
      return { storage: 'utf8', type: resultType as 'string' | 'uint128', length, strings: utf8FromStrings(strings) } satisfies Utf8Vector;
    }
  }
};

// --- regexes and JSON ------------------------------------------------------------------

const regexCache = new Map<string, RegExp | null>();

/** A compiled pattern (cached; bounded), or null when it does not compile (matches nothing). */
function regex(pattern: string, flags: string): RegExp | null {
  const key = `${flags}/${pattern}`;
  let compiled = regexCache.get(key);
  if (compiled === undefined) {
    try {
      compiled = new RegExp(pattern, flags);
    } catch {
      compiled = null;
    }
    if (regexCache.size >= 256) regexCache.delete(regexCache.keys().next().value as string);
    regexCache.set(key, compiled);
  }
  return compiled;
}

let lastJsonText: string | undefined;
let lastJson: unknown;

/** The value of `key` in a JSON object text (undefined when not JSON or absent). Remembers the last parse (plucks of one column come in runs). */
function pluckValue(text: string, key: string): unknown {
  if (text !== lastJsonText) {
    lastJsonText = text;
    try {
      lastJson = JSON.parse(text);
    } catch {
      lastJson = undefined;
    }
  }
  const object = lastJson;
  if (object === null || typeof object !== 'object' || Array.isArray(object)) return undefined;
  return (object as Record<string, unknown>)[key];
}

function pluckString(text: string, key: string): string {
  const value = pluckValue(text, key);
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function pluckNumber(text: string, key: string): number {
  const value = pluckValue(text, key);
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '') { const n = Number(value); return Number.isNaN(n) ? 0 : n; }
  return 0;
}

// --- URIs ---------------------------------------------------------------------------

/** Pixie's uri_parse: a JSON object of the present parts (scheme, userinfo, host, port, path, query, fragment). */
function uriParse(text: string): string {
  const match = /^(?:([a-zA-Z][a-zA-Z0-9+.-]*):)?(?:\/\/(?:([^@/?#]*)@)?(\[[^\]]*\]|[^:/?#]*)(?::(\d*))?)?([^?#]*)(?:\?([^#]*))?(?:#(.*))?$/.exec(text);
  if (!match) return '{}';
  const [, scheme, userinfo, host, port, path, query, fragment] = match;
  const parts: Record<string, string | number> = {};
  if (scheme) parts.scheme = scheme;
  if (userinfo) parts.userinfo = userinfo;
  if (host) parts.host = host;
  if (port) parts.port = Number(port);
  if (path) parts.path = path;
  if (query) parts.query = query;
  if (fragment) parts.fragment = fragment;
  return JSON.stringify(parts);
}

function uriRecompose(scheme: string, userinfo: string, host: string, port: bigint, path: string, query: string, fragment: string): string {
  let out = scheme ? `${scheme}:` : '';
  if (host || userinfo || port > 0n) out += `//${userinfo ? `${userinfo}@` : ''}${host}${port > 0n ? `:${port}` : ''}`;
  out += path;
  if (query) out += `?${query}`;
  if (fragment) out += `#${fragment}`;
  return out;
}

// --- registry entries ---------------------------------------------------------------------

const S = 'string';
const I = 'int64';
const F = 'float64';
const B = 'boolean';
const T = 'time64ns';
const U = 'uint128';

function fn(name: string, description: string, overloads: ScalarFunction['overloads'], volatile = false): ScalarFunction {
  return volatile ? { name, pxName: name, description, overloads, volatile } : { name, pxName: name, description, overloads };
}

function one(args: readonly ColumnType[], result: ColumnType, kernel: Kernel): ScalarFunction['overloads'] {
  return [{ args, result, kernel }];
}

const upidLookups: readonly [string, UpidProperty][] = [
  ['upid_to_pod_id', 'pod_id'], ['upid_to_pod_name', 'pod_name'], ['upid_to_namespace', 'namespace'],
  ['upid_to_service_id', 'service_id'], ['upid_to_service_name', 'service_name'], ['upid_to_node_name', 'node_name'],
  ['upid_to_container_id', 'container_id'], ['upid_to_container_name', 'container_name'], ['upid_to_cmdline', 'cmdline'],
  ['upid_to_hostname', 'hostname'],
];
const podIdLookups: readonly [string, PodIdProperty][] = [
  ['pod_id_to_pod_name', 'pod_name'], ['pod_id_to_namespace', 'namespace'], ['pod_id_to_node_name', 'node_name'],
  ['pod_id_to_service_name', 'service_name'], ['pod_id_to_service_id', 'service_id'], ['pod_id_to_ip', 'ip'],
];
const podNameLookups: readonly [string, PodNameProperty][] = [
  ['pod_name_to_namespace', 'namespace'], ['pod_name_to_service_name', 'service_name'], ['pod_name_to_pod_id', 'pod_id'],
  ['pod_name_to_node_name', 'node_name'],
];
const ipLookups: readonly [string, IpProperty][] = [
  ['ip_to_pod_id', 'pod_id'], ['ip_to_service_id', 'service_id'], ['ip_to_pod_name', 'pod_name'], ['ip_to_service_name', 'service_name'],
  ['nslookup', 'hostname'],
];
const serviceIdLookups: readonly [string, ServiceIdProperty][] = [
  ['service_id_to_service_name', 'service_name'], ['service_id_to_namespace', 'namespace'],
];

/** Maximum key/value pairs px.script_reference takes. */
const SCRIPT_REFERENCE_MAX_ARGS = 8;

function scriptReferenceOverloads(): ScalarFunction['overloads'] {
  const kernel = rowKernel((args) => {
    const params: Record<string, string> = {};
    for (let i = 2; i + 1 < args.length; i += 2) params[str(args[i])] = str(args[i + 1]);
    return JSON.stringify({ label: str(args[0]), script: str(args[1]), args: params });
  });
  const overloads: ScalarFunction['overloads'][number][] = [];
  for (let pairs = 0; pairs <= SCRIPT_REFERENCE_MAX_ARGS; pairs++) overloads.push({ args: new Array<ColumnType>(2 + 2 * pairs).fill(S), result: S, kernel });
  return overloads;
}

const selectOverloads: ScalarFunction['overloads'] = ([I, F, B, S, T, U] as const).map((t) => ({ args: [B, t, t], result: t, kernel: selectKernel }));

export const LIBRARY_FUNCTIONS: readonly ScalarFunction[] = [
  fn('select', 'select(cond, a, b): a where cond holds, else b.', selectOverloads),
  fn('substring', 'substring(s, pos, length): bytes… characters [pos, pos+length) of s.', one([S, I, I], S, rowKernel(([s, pos, len]) => {
    const start = Math.max(0, Number(pos));
    return str(s).substring(start, start + Math.max(0, Number(len)));
  }))),
  fn('trim', 'The string without leading and trailing white space.', one([S], S, rowKernel(([s]) => str(s).trim()))),
  fn('replace', 'replace(pattern, s, replacement): every match of the regex pattern in s replaced (\\1 refers to groups).', one([S, S, S], S, rowKernel(([pattern, s, replacement]) => {
    const re = regex(str(pattern), 'g');
    return re ? str(s).replace(re, str(replacement).replace(/\\(\d)/g, '$$$1')) : str(s);
  }))),
  fn('regex_match', 'regex_match(pattern, s): whether the regex matches all of s.', one([S, S], B, rowKernel(([pattern, s]) => regex(`^(?:${str(pattern)})$`, 's')?.test(str(s)) ?? false))),
  fn('pluck', 'pluck(json, key): the value of key in a JSON object, as text.', one([S, S], S, rowKernel(([json, key]) => pluckString(str(json), str(key))))),
  fn('pluck_int64', 'pluck_int64(json, key): the value of key in a JSON object, as an int (0 when absent).', one([S, S], I, rowKernel(([json, key]) => {
    const n = pluckNumber(str(json), str(key));
    return Number.isFinite(n) ? BigInt(Math.trunc(n)) : 0n;
  }))),
  fn('pluck_float64', 'pluck_float64(json, key): the value of key in a JSON object, as a float (0 when absent).', one([S, S], F, rowKernel(([json, key]) => pluckNumber(str(json), str(key))))),
  fn('atoi', 'The int a decimal string holds (0 when it holds none).', one([S], I, rowKernel(([s]) => {
    const text = str(s).trim();
    return /^[+-]?\d+$/.test(text) ? BigInt.asIntN(64, BigInt(text)) : 0n;
  }))),
  fn('itoa', 'An int as decimal text.', one([I], S, rowKernel(([n]) => str(n)))),
  fn('bin', 'bin(x, size): x rounded down to a multiple of size (time windows: px.bin(df.time_, px.seconds(10))).', [
    { args: [I, I], result: I, kernel: binKernel },
    { args: [T, I], result: T, kernel: binKernel },
  ]),
  fn('floor', 'The largest int <= x.', one([F], I, floatToInt(Math.floor))),
  fn('ceil', 'The smallest int >= x.', one([F], I, floatToInt(Math.ceil))),
  fn('round', 'round(x): the nearest int; round(x, decimals): x rounded, as text (as Pixie).', [
    { args: [F], result: I, kernel: floatToInt(Math.round) },
    { args: [F, I], result: S, kernel: rowKernel(([x, decimals]) => Number(x).toFixed(Math.min(20, Math.max(0, Number(decimals))))) },
  ]),
  fn('abs', 'The absolute value.', [{ args: [I], result: I, kernel: absIntKernel }, { args: [F], result: F, kernel: floatMap(Math.abs) }]),
  fn('sqrt', 'The square root.', one([F], F, floatMap(Math.sqrt))),
  fn('log', 'log(x): natural logarithm; log(base, x): logarithm in base.', [
    { args: [F], result: F, kernel: floatMap(Math.log) },
    { args: [F, F], result: F, kernel: rowKernel(([base, x]) => Math.log(Number(x)) / Math.log(Number(base))) },
  ]),
  fn('ln', 'Natural logarithm.', one([F], F, floatMap(Math.log))),
  fn('log2', 'Base-2 logarithm.', one([F], F, floatMap(Math.log2))),
  fn('log10', 'Base-10 logarithm.', one([F], F, floatMap(Math.log10))),
  fn('exp', 'e to the x.', one([F], F, floatMap(Math.exp))),
  fn('pow', 'pow(x, y): x to the y.', one([F, F], F, rowKernel(([x, y]) => Number(x) ** Number(y)))),
  fn('DurationNanos', 'An int of ns as a duration (int64 ns).', one([I], I, reinterpretKernel)),
  fn('parse_duration', "parse_duration('-5m'): a duration text as int64 ns (0 when not a duration).", one([S], I, rowKernel(([s]) => {
    const text = str(s).trim();
    const negative = text.startsWith('-');
    const ns = parseDurationNs(negative || text.startsWith('+') ? text.slice(1) : text);
    return ns === undefined ? 0n : negative ? -ns : ns;
  }))),
  fn('time_to_int64', 'A time as int64 ns since the epoch.', one([T], I, reinterpretKernel)),
  fn('int64_to_time', 'int64 ns since the epoch as a time.', one([I], T, reinterpretKernel)),
  fn('upid_to_pid', 'The pid of a upid.', one([U], I, rowKernel(([upid]) => BigInt(parseUpid(str(upid))?.pid ?? 0)))),
  fn('upid_to_asid', 'The agent id (asid) of a upid.', one([U], I, rowKernel(([upid]) => BigInt(parseUpid(str(upid))?.asid ?? 0)))),
  fn('upid_to_start_ticks', 'The process start time of a upid, in clock ticks since boot.', one([U], I, rowKernel(([upid]) => BigInt(parseUpid(str(upid))?.startTicks ?? 0)))),
  ...upidLookups.map(([name, property]) => fn(name, `The ${property} of a upid's process ('' when unknown).`,
    one([U], S, rowKernel(([upid], context) => context.metadata.upid(str(upid), property))), true)),
  ...podIdLookups.map(([name, property]) => fn(name, `The ${property} of a pod id ('' when unknown).`,
    one([S], S, rowKernel(([id], context) => context.metadata.podId(str(id), property))), true)),
  ...podNameLookups.map(([name, property]) => fn(name, `The ${property} of a pod name "namespace/name" ('' when unknown).`,
    one([S], S, rowKernel(([pod], context) => context.metadata.podName(str(pod), property))), true)),
  ...ipLookups.map(([name, property]) => fn(name, `The ${property} of an IP address ('' when unknown).`,
    one([S], S, rowKernel(([ip], context) => context.metadata.ip(str(ip), property))), true)),
  ...serviceIdLookups.map(([name, property]) => fn(name, `The ${property} of a service id ('' when unknown).`,
    one([S], S, rowKernel(([id], context) => context.metadata.serviceId(str(id), property))), true)),
  fn('uri_parse', 'A URI split into a JSON object (scheme, userinfo, host, port, path, query, fragment; present parts only).', one([S], S, rowKernel(([uri]) => uriParse(str(uri))))),
  fn('uri_recompose', 'uri_recompose(scheme, userinfo, host, port, path, query, fragment): a URI from its parts.', one([S, S, S, I, S, S, S], S,
    rowKernel(([scheme, userinfo, host, port, path, query, fragment]) => uriRecompose(str(scheme), str(userinfo), str(host), int(port), str(path), str(query), str(fragment))))),
  fn('script_reference', "script_reference(label, script, {'arg': value, …}): a link to another script, as JSON text.", scriptReferenceOverloads()),
];
