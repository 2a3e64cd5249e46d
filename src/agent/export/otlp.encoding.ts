// OTLP protobuf layouts (opentelemetry-proto v1: trace, metrics, common,
// resource) as field numbers, and helpers that write attributes straight
// from Arrow column vectors. Requests are assembled from pre-encoded parts:
// a Resource message per process and a run of encoded Span / Metric fields.
import type { RecordBatch } from 'apache-arrow';
import { DataType } from 'apache-arrow';
import { vectorFromArrow, type Vector } from '../../query/vector.ts';
import type { ColumnType } from '../../tables/schema.ts';
import { ProtoWriter } from './protobuf.writer.ts';

/** Field numbers, named as in the .proto files. */
export const F = Object.freeze({
  // ExportTraceServiceRequest / ExportMetricsServiceRequest
  resourceSpans: 1, resourceMetrics: 1,
  // ResourceSpans / ResourceMetrics
  resource: 1, scopeSpans: 2, scopeMetrics: 2,
  // ScopeSpans / ScopeMetrics
  scope: 1, spans: 2, metrics: 2,
  // InstrumentationScope
  scopeName: 1, scopeVersion: 2,
  // Resource
  resourceAttributes: 1,
  // Span
  traceId: 1, spanId: 2, parentSpanId: 4, name: 5, kind: 6, startTime: 7, endTime: 8, spanAttributes: 9, status: 15,
  // Status
  statusMessage: 2, statusCode: 3,
  // KeyValue / AnyValue
  key: 1, value: 2, stringValue: 1, boolValue: 2, intValue: 3, doubleValue: 4,
  // Metric
  metricName: 1, metricDescription: 2, metricUnit: 3, histogram: 9, gauge: 5, sum: 7,
  // Histogram / Sum / Gauge
  dataPoints: 1, temporality: 2, isMonotonic: 3,
  // HistogramDataPoint
  hStartTime: 2, hTime: 3, hCount: 4, hSum: 5, hBucketCounts: 6, hBounds: 7, hAttributes: 9,
  // NumberDataPoint
  nStartTime: 2, nTime: 3, nAsDouble: 4, nAttributes: 7,
});

export const SpanKind = Object.freeze({ SERVER: 2, CLIENT: 3, INTERNAL: 1 });
export const StatusCode = Object.freeze({ UNSET: 0, OK: 1, ERROR: 2 });
export const Temporality = Object.freeze({ DELTA: 1, CUMULATIVE: 2 });

export const SCOPE_NAME = 'wisp';

/** A string attribute: key and value as a KeyValue field `field`. */
export function stringAttribute(w: ProtoWriter, field: number, key: string, value: string): void {
  w.begin(field);
  w.string(F.key, key);
  w.begin(F.value);
  w.string(F.stringValue, value);
  w.end();
  w.end();
}

export function intAttribute(w: ProtoWriter, field: number, key: string, value: number): void {
  w.begin(field);
  w.string(F.key, key);
  w.begin(F.value);
  w.int64(F.intValue, value);
  w.end();
  w.end();
}

/** Encodes a Resource message body from string attributes (done once per process, not per span). */
export function encodeResource(attributes: Readonly<Record<string, string | number>>): Uint8Array {
  const w = new ProtoWriter(256);
  for (const [key, value] of Object.entries(attributes)) {
    if (typeof value === 'number') intAttribute(w, F.resourceAttributes, key, value);
    else stringAttribute(w, F.resourceAttributes, key, value);
  }
  return w.finish();
}

/** A run of encoded items (Span or Metric fields) from one resource. */
export interface EncodedChunk {
  readonly resource: Uint8Array;
  readonly payload: Uint8Array;
  readonly items: number;
}

/** ExportTraceServiceRequest / ExportMetricsServiceRequest from chunks (same shape: resource, scope, items). */
export function encodeRequest(w: ProtoWriter, chunks: readonly EncodedChunk[]): Uint8Array {
  w.reset();
  for (const chunk of chunks) {
    w.begin(F.resourceSpans);
    w.bytes(F.resource, chunk.resource);
    w.begin(F.scopeSpans);
    w.begin(F.scope);
    w.string(F.scopeName, SCOPE_NAME);
    w.end();
    w.raw(chunk.payload);
    w.end();
    w.end();
  }
  return w.finish();
}

// --- reading columns -------------------------------------------------------

/** The column type of an Arrow field, as the tables declare them. */
export function columnTypeOf(type: DataType): ColumnType | undefined {
  if (DataType.isTimestamp(type)) return 'time64ns';
  if (DataType.isInt(type)) return 'int64';
  if (DataType.isFloat(type)) return 'float64';
  if (DataType.isBool(type)) return 'boolean';
  if (DataType.isUtf8(type) || DataType.isDictionary(type)) return 'string';
  return undefined;
}

/** Column `name` of a single-chunk record batch as a vector, or undefined when absent. */
export function column(batch: RecordBatch, name: string): Vector | undefined {
  const index = batch.schema.fields.findIndex((f) => f.name === name);
  if (index < 0) return undefined;
  const field = batch.schema.fields[index]!;
  const type = columnTypeOf(field.type);
  const data = batch.data.children[index];
  return type && data ? vectorFromArrow(data, type) : undefined;
}

/** UTF-8 bytes and [start, end) of row `row` of a string vector. */
export function stringSpan(vector: Vector, row: number, out: { bytes: Uint8Array; start: number; end: number }): boolean {
  if (vector.storage === 'dict') {
    const code = vector.codes[row]!;
    out.bytes = vector.dictionary.bytes;
    out.start = vector.dictionary.offsets[code]!;
    out.end = vector.dictionary.offsets[code + 1]!;
    return true;
  }
  if (vector.storage === 'utf8') {
    out.bytes = vector.strings.bytes;
    out.start = vector.strings.offsets[row]!;
    out.end = vector.strings.offsets[row + 1]!;
    return true;
  }
  return false;
}

/** Low and high 32-bit words of an int64 column (little-endian): read without BigInt. */
export function int64Words(vector: Vector): Int32Array {
  const values = (vector as { values: BigInt64Array }).values;
  return new Int32Array(values.buffer, values.byteOffset, values.length * 2);
}

/** An int64 word pair as a JS number (exact to 2^53). */
export function wordsToNumber(words: Int32Array, row: number): number {
  return words[row * 2 + 1]! * 0x100000000 + (words[row * 2]! >>> 0);
}

/**
 * Writes a KeyValue field with the value of column `vector` at `row`:
 * strings copied as UTF-8 bytes, ints and times as int_value, floats as
 * double_value, booleans as bool_value. Empty strings are left out.
 */
export function columnAttribute(w: ProtoWriter, field: number, key: Uint8Array, vector: Vector, row: number, scratch: { bytes: Uint8Array; start: number; end: number }): void {
  if (vector.storage === 'dict' || vector.storage === 'utf8') {
    stringSpan(vector, row, scratch);
    if (scratch.end === scratch.start) return;
    w.begin(field);
    w.raw(key);
    w.begin(F.value);
    w.begin(F.stringValue);
    w.raw(scratch.bytes.subarray(scratch.start, scratch.end));
    w.end();
    w.end();
    w.end();
    return;
  }
  w.begin(field);
  w.raw(key);
  w.begin(F.value);
  switch (vector.storage) {
    case 'bigint': w.int64(F.intValue, Number(vector.values[row])); break;
    case 'float': w.double(F.doubleValue, vector.values[row]!); break;
    case 'bool': w.uint32(F.boolValue, vector.values[row]!); break;
  }
  w.end();
  w.end();
}

/** The encoded `key` field of a KeyValue, for attributes written per row. */
export function keyField(key: string): Uint8Array {
  const w = new ProtoWriter(64);
  w.string(F.key, key);
  return w.finish();
}
