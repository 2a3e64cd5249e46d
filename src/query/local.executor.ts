// Runs plan fragments over Arrow record batches, one chunk (batch) at a time,
// pulling lazily: a limit or the output bound stops the scan early.
import { Field, RecordBatch, Schema, Struct, Table, makeData, type Data, type DataType } from 'apache-arrow';
import type { TableSource } from './source.ts';
import { runAggregate } from './aggregate.executor.ts';
import { prepareExpression, type Chunk } from './expression.evaluator.ts';
import { runJoin, runUnion } from './join.executor.ts';
import { DEFAULT_KERNEL_CONTEXT, EMPTY_METADATA_RESOLVER, type KernelContext, type MetadataResolver } from './metadata.ts';
import type { CompiledQuery, PlanColumn, PlanNode } from './plan.ts';
import { gather, int64RangeMask, planColumnArrowType, selectionFromMask, slice, vectorFromArrow, vectorToArrow, asVector, type Vector } from './vector.ts';

export interface ExecuteOptions {
  /** Rows kept per output; more are cut and the output is marked truncated. */
  readonly maxOutputRows?: number;
  /** Kubernetes context for df.ctx[...] and the px.upid_to_* / pod / ip look-ups (default: knows nothing, resolves to ''). */
  readonly metadata?: MetadataResolver;
}

export const EXECUTOR_DEFAULTS = Object.freeze({
  maxOutputRows: 10_000,
});

export interface QueryOutput {
  readonly name: string;
  /** Columns keep the store's Arrow types (time_ Timestamp ns, int64 Int64, dictionary strings); computed ones get their inferred type. */
  readonly table: Table;
  /** True when rows beyond maxOutputRows were cut. */
  readonly truncated: boolean;
}

export interface QueryResult {
  readonly outputs: readonly QueryOutput[];
}

export interface RunContext {
  readonly source?: TableSource;
  /** The results of node fragment `fragment` (CompiledOutput.nodeFragments index) from every node, for a merge fragment's remoteSource. */
  readonly remote?: (fragment: number) => Iterable<Chunk>;
  readonly metadata?: MetadataResolver;
}

function kernelContext(context: RunContext): KernelContext {
  return context.metadata ? { metadata: context.metadata } : DEFAULT_KERNEL_CONTEXT;
}

/**
 * Chunks produced by `node` (which must not be a sink). With `selections`,
 * a filter (under maps only) yields its kept rows as a selection over the
 * unfiltered vectors (Chunk.selected) instead of gathering every column; the
 * maps in between compute on all rows and pass the selection on (unless it
 * keeps less than half of them: then they gather and compute on those).
 */
export function* runFragment(node: PlanNode, context: RunContext, selections = false): Generator<Chunk> {
  switch (node.op) {
    case 'memorySource': yield* scanMemory(node, context); return;
    case 'remoteSource': {
      if (!context.remote) throw new Error('run merge fragment: no node results to read');
      yield* context.remote(node.fragment ?? 0);
      return;
    }
    case 'filter': {
      const predicate = prepareExpression(node.predicate, node.input.columns, kernelContext(context));
      const kept = node.columns.map((c) => node.input.columns.findIndex((i) => i.name === c.name));
      if (kept.some((i) => i < 0)) throw new Error('prepare plan: filter outputs a column its input lacks');
      for (const input of runFragment(node.input, context)) {
        const result = predicate(input);
        const chunk: Chunk = { length: input.length, vectors: kept.map((i) => input.vectors[i] as Vector) };
        if (result.storage === 'scalar') {
          if (result.value === true) yield chunk;
          continue;
        }
        const filtered = selections ? selectMask(chunk, (result as { values: Uint8Array }).values) : applyMask(chunk, (result as { values: Uint8Array }).values);
        if (filtered) yield filtered;
      }
      return;
    }
    case 'map': {
      const expressions = node.assignments.map((a) => prepareExpression(a.expr, node.input.columns, kernelContext(context)));
      for (const input of runFragment(node.input, context, selections)) {
        const selected = input.selected;
        if (selected && 2 * input.length >= selected.of) {
          // Row-wise expressions over every row of the vectors (at most as many rows wasted as kept); the selection still applies.
          const all: Chunk = { length: selected.of, vectors: input.vectors };
          yield { length: input.length, vectors: expressions.map((e) => asVector(e(all), all.length)), selected };
          continue;
        }
        // Mostly filtered out: the kept rows are gathered, the expressions computed on those only.
        const chunk: Chunk = selected ? { length: input.length, vectors: input.vectors.map((v) => gather(v, selected.rows)) } : input;
        yield { length: chunk.length, vectors: expressions.map((e) => asVector(e(chunk), chunk.length)) };
      }
      return;
    }
    case 'limit': {
      let remaining = node.n;
      if (remaining === 0) return;
      for (const chunk of runFragment(node.input, context)) {
        if (chunk.length <= remaining) {
          remaining -= chunk.length;
          yield chunk;
        } else {
          yield sliceChunk(chunk, remaining);
          remaining = 0;
        }
        if (remaining === 0) return; // closes the upstream generators: the scan stops here
      }
      return;
    }
    case 'aggregate': yield* runAggregate(node, runFragment(node.input, context, true)); return;
    case 'join': yield* runJoin(node, runFragment(node.left, context), runFragment(node.right, context)); return;
    case 'union': yield* runUnion(node, node.inputs.map((input) => () => runFragment(input, context))); return;
    case 'sink':
      throw new Error(`run fragment: sink ${node.name} is not a row producer`);
  }
}

function sliceChunk(chunk: Chunk, length: number): Chunk {
  return { length, vectors: chunk.vectors.map((v) => slice(v, 0, length)) };
}

/**
 * Row indexes of the current chunk, reused from chunk to chunk: a selection
 * only lives until the gathers that read it return (they copy).
 */
let selectionScratch = new Int32Array(4096);

/**
 * The row indexes where `mask` is 1, in selectionScratch[0, count): the
 * selection and its count in one pass (branch-free: the row index is
 * written, kept or not).
 */
function maskToSelection(mask: Uint8Array): number {
  const n = mask.length;
  if (selectionScratch.length < n) selectionScratch = new Int32Array(n);
  const scratch = selectionScratch;
  let count = 0;
  for (let i = 0; i < n; i++) {
    scratch[count] = i;
    count += mask[i] as number;
  }
  return count;
}

/** The rows of `chunk` where `mask` is 1; undefined when none; the chunk itself when all. */
function applyMask(chunk: Chunk, mask: Uint8Array): Chunk | undefined {
  const count = maskToSelection(mask);
  if (count === 0) return undefined;
  if (count === chunk.length) return chunk;
  const selection = selectionScratch.subarray(0, count);
  return { length: count, vectors: chunk.vectors.map((v) => gather(v, selection)) };
}

/** The rows of `chunk` where `mask` is 1 as a selection (no column copied); undefined when none; the chunk itself when all. */
function selectMask(chunk: Chunk, mask: Uint8Array): Chunk | undefined {
  const count = maskToSelection(mask);
  if (count === 0) return undefined;
  if (count === chunk.length) return chunk;
  // Its own array: the consumer reads it after this generator resumes.
  return { length: count, vectors: chunk.vectors, selected: { rows: selectionScratch.slice(0, count), of: mask.length } };
}

/** The time-range mask of the batch being scanned, reused (read before the batch's chunk is yielded). */
let rangeMask = new Uint8Array(4096);

function* scanMemory(node: Extract<PlanNode, { op: 'memorySource' }>, context: RunContext): Generator<Chunk> {
  if (!context.source) throw new Error(`scan ${node.table}: no table source`);
  const startNs = BigInt(node.startNs);
  const endNs = BigInt(node.endNs);
  for (const batch of context.source.scan(node.table, startNs, endNs)) {
    if (batch.numRows === 0) continue;
    const fieldIndex = (name: string): number => {
      const index = batch.schema.fields.findIndex((f) => f.name === name);
      if (index < 0) throw new Error(`scan ${node.table}: batch has no column ${name}`);
      return index;
    };
    const children = batch.data.children;
    const time = vectorFromArrow(children[fieldIndex('time_')] as Data, 'time64ns');
    if (rangeMask.length < batch.numRows) rangeMask = new Uint8Array(batch.numRows);
    const mask = rangeMask.subarray(0, batch.numRows);
    const count = int64RangeMask((time as { values: BigInt64Array }).values, startNs, endNs, mask);
    if (count === 0) continue;
    const vectors: Vector[] = node.columns.map((c) => (c.name === 'time_' ? time : vectorFromArrow(children[fieldIndex(c.name)] as Data, c.type)));
    const chunk: Chunk = { length: batch.numRows, vectors };
    if (count === batch.numRows) yield chunk;
    else {
      const selection = selectionFromMask(mask, count);
      yield { length: count, vectors: vectors.map((v) => gather(v, selection)) };
    }
  }
}

/** The Arrow schema of an output (field metadata wisp.type names the Wisp column type). */
export function outputSchema(columns: readonly PlanColumn[]): Schema {
  return new Schema(columns.map((c) => new Field(c.name, planColumnArrowType(c), false, new Map([['wisp.type', c.type]]))));
}

export function toRecordBatch(schema: Schema, columns: readonly PlanColumn[], chunk: Chunk): RecordBatch {
  const children = columns.map((_c, i) => vectorToArrow(chunk.vectors[i] as Vector, (schema.fields[i] as Field).type as DataType));
  return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: chunk.length, children }));
}

/**
 * Runs every output of `compiled` on one agent's data: the node fragments
 * over `source`, then the merge fragment over their results (one agent = one
 * input of the union). Rows keep the store's order.
 */
export function executeLocal(compiled: CompiledQuery, source: TableSource, options: ExecuteOptions = {}): QueryResult {
  return executeOverSources(compiled, [source], options);
}

/**
 * Runs `compiled` as a cluster would: every node fragment on each source
 * (one per node), and each merge fragment over the union of their results,
 * in source order. With one source it is executeLocal.
 */
export function executeOverSources(compiled: CompiledQuery, sources: readonly TableSource[], options: ExecuteOptions = {}): QueryResult {
  const metadata = options.metadata ?? EMPTY_METADATA_RESOLVER;
  return executeMerge(compiled, function* (output, fragment) {
    const node = compiled.outputs[output]?.nodeFragments[fragment];
    if (!node) throw new Error(`run merge fragment: no node fragment ${fragment} of output ${output}`);
    for (const source of sources) yield* runFragment(node, { source, metadata });
  }, options);
}

/**
 * The node fragments' results of one output, as chunks: `fragment` indexes
 * CompiledOutput.nodeFragments. A cluster endpoint yields what every agent
 * returned for that fragment; executeOverSources runs them locally.
 */
export type NodeResults = (output: number, fragment: number) => Iterable<Chunk>;

/**
 * Runs each output's merge fragment over the node fragments' results and
 * collects at most maxOutputRows rows per output (truncation is reported).
 */
export function executeMerge(compiled: CompiledQuery, nodeResults: NodeResults, options: ExecuteOptions = {}): QueryResult {
  // A #px:set max_output_rows_per_table replaces the default; the caller's bound still caps it.
  const pragma = compiled.settings?.maxOutputRowsPerTable;
  const maxOutputRows = pragma === undefined ? options.maxOutputRows ?? EXECUTOR_DEFAULTS.maxOutputRows : Math.min(pragma, options.maxOutputRows ?? pragma);
  if (!Number.isInteger(maxOutputRows) || maxOutputRows < 0) throw new Error(`execute query: maxOutputRows must be a non-negative integer, got ${maxOutputRows}`);
  const metadata = options.metadata ?? EMPTY_METADATA_RESOLVER;
  const outputs = compiled.outputs.map((output, index): QueryOutput => {
    const schema = outputSchema(output.columns);
    const chunks = runFragment(output.mergeFragment.input, { metadata, remote: (fragment) => nodeResults(index, fragment) });
    const batches: RecordBatch[] = [];
    let rows = 0;
    let truncated = false;
    for (const chunk of chunks) {
      if (chunk.length === 0) continue;
      if (rows === maxOutputRows) {
        truncated = true;
        break;
      }
      const kept = Math.min(chunk.length, maxOutputRows - rows);
      if (kept < chunk.length) truncated = true;
      batches.push(toRecordBatch(schema, output.columns, kept < chunk.length ? sliceChunk(chunk, kept) : chunk));
      rows += kept;
      if (truncated) break;
    }
    chunks.return(undefined);
    return { name: output.name, table: new Table(schema, batches), truncated };
  });
  return { outputs };
}
