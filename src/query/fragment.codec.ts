// Node fragment results on the wire: the chunks a node fragment yields,
// written as one Arrow IPC stream whose schema is the fragment's output
// columns (partial aggregate states travel as their text encoding), and read
// back into chunks at the caller for the merge fragment.
import { RecordBatchReader, RecordBatchStreamWriter, type Field } from 'apache-arrow';
import type { Chunk } from './expression.evaluator.ts';
import { outputSchema, toRecordBatch } from './local.executor.ts';
import type { PlanColumn, PlanNode } from './plan.ts';
import { vectorFromArrow } from './vector.ts';

export const ARROW_STREAM_TYPE = 'application/vnd.apache.arrow.stream';

/** Encodes `chunks` (the output of `node`) as an Arrow IPC stream. */
export function encodeFragmentResult(node: PlanNode, chunks: Iterable<Chunk>): Uint8Array {
  const schema = outputSchema(node.columns);
  const writer = new RecordBatchStreamWriter();
  writer.reset(undefined, schema);
  for (const chunk of chunks) {
    if (chunk.length > 0) writer.write(toRecordBatch(schema, node.columns, chunk));
  }
  writer.finish();
  return writer.toUint8Array(true);
}

/**
 * Decodes what an agent returned for `node` into chunks. Throws when the
 * stream's columns are not the fragment's (an agent of another version).
 */
export function decodeFragmentResult(node: PlanNode, bytes: Uint8Array): Chunk[] {
  const columns: readonly PlanColumn[] = node.columns;
  const chunks: Chunk[] = [];
  const reader = RecordBatchReader.from(bytes);
  for (const batch of reader) {
    const names = batch.schema.fields.map((f: Field) => f.name);
    if (names.length !== columns.length || names.some((n, i) => n !== columns[i]!.name)) {
      throw new Error(`decode node result: columns ${names.join(',')} are not the fragment's ${columns.map((c) => c.name).join(',')}`);
    }
    chunks.push({
      length: batch.numRows,
      vectors: columns.map((column, i) => vectorFromArrow(batch.getChildAt(i)!.data[0]!, column.type)),
    });
  }
  return chunks;
}
