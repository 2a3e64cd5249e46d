// df.merge (hash join) and df.append (union), run in the merge fragment.
// Both sides of a join are materialized (they are results of node
// fragments); keys of both sides are mapped to group ids by one GroupTable,
// so equal keys meet as equal ids, and rows are bucketed per id with
// head/next arrays (no per-row objects).
import type { Chunk } from './expression.evaluator.ts';
import { GroupTable, IntList } from './group.table.ts';
import type { JoinNode, PlanColumn, UnionNode } from './plan.ts';
import { dictionaryDecode, gather, type Utf8Vector, type Vector } from './vector.ts';

/** Concatenates chunks with the same columns into one. */
export function concatChunks(chunks: readonly Chunk[], columns: readonly PlanColumn[]): Chunk {
  if (chunks.length === 1) return chunks[0] as Chunk;
  let length = 0;
  for (const chunk of chunks) length += chunk.length;
  const vectors = columns.map((column, c) => concatVectors(chunks.map((chunk) => chunk.vectors[c] as Vector), length, column));
  return { length, vectors };
}

function concatVectors(parts: readonly Vector[], length: number, column: PlanColumn): Vector {
  switch (column.type) {
    case 'int64':
    case 'time64ns': {
      const out = new BigInt64Array(length);
      let at = 0;
      for (const part of parts) { out.set((part as { values: BigInt64Array }).values.subarray(0, part.length), at); at += part.length; }
      return { storage: 'bigint', type: column.type, length, values: out };
    }
    case 'float64': {
      const out = new Float64Array(length);
      let at = 0;
      for (const part of parts) { out.set((part as { values: Float64Array }).values.subarray(0, part.length), at); at += part.length; }
      return { storage: 'float', type: 'float64', length, values: out };
    }
    case 'boolean': {
      const out = new Uint8Array(length);
      let at = 0;
      for (const part of parts) { out.set((part as { values: Uint8Array }).values.subarray(0, part.length), at); at += part.length; }
      return { storage: 'bool', type: 'boolean', length, values: out };
    }
    case 'string':
    case 'uint128': {
      const first = parts[0];
      if (first?.storage === 'dict' && parts.every((p) => p.storage === 'dict' && p.dictionary === first.dictionary)) {
        const codes = new Int32Array(length);
        let at = 0;
        for (const part of parts) { codes.set((part as { codes: Int32Array }).codes.subarray(0, part.length), at); at += part.length; }
        return { ...first, length, codes };
      }
      const plain = parts.map((p): Utf8Vector => (p.storage === 'dict' ? dictionaryDecode(p) : (p as Utf8Vector)));
      let bytesLength = 0;
      for (const p of plain) bytesLength += (p.strings.offsets[p.length] as number) - (p.strings.offsets[0] as number);
      const bytes = new Uint8Array(bytesLength);
      const offsets = new Int32Array(length + 1);
      let row = 0;
      let at = 0;
      for (const p of plain) {
        const start = p.strings.offsets[0] as number;
        const end = p.strings.offsets[p.length] as number;
        bytes.set(p.strings.bytes.subarray(start, end), at);
        for (let i = 1; i <= p.length; i++) offsets[row + i] = at + (p.strings.offsets[i] as number) - start;
        row += p.length;
        at += end - start;
      }
      return { storage: 'utf8', type: column.type, length, strings: { offsets, bytes } };
    }
  }
}

/** Rows of `vector` at `selection`; -1 selects the type's default (0, 0.0, false, ''). */
function gatherOrDefault(vector: Vector, selection: Int32Array, column: PlanColumn): Vector {
  let missing = false;
  for (let i = 0; i < selection.length; i++) if ((selection[i] as number) < 0) { missing = true; break; }
  if (!missing) return gather(vector, selection);
  if (vector.storage === 'dict' || vector.storage === 'utf8') {
    const plain = vector.storage === 'dict' ? dictionaryDecode(vector) : vector;
    const n = selection.length;
    const offsets = new Int32Array(n + 1);
    let total = 0;
    for (let i = 0; i < n; i++) {
      const row = selection[i] as number;
      if (row >= 0) total += (plain.strings.offsets[row + 1] as number) - (plain.strings.offsets[row] as number);
      offsets[i + 1] = total;
    }
    const bytes = new Uint8Array(total);
    for (let i = 0; i < n; i++) {
      const row = selection[i] as number;
      if (row >= 0) bytes.set(plain.strings.bytes.subarray(plain.strings.offsets[row] as number, plain.strings.offsets[row + 1] as number), offsets[i] as number);
    }
    return { storage: 'utf8', type: column.type as 'string' | 'uint128', length: n, strings: { offsets, bytes } };
  }
  const safe = selection.map((row) => (row < 0 ? 0 : row));
  const gathered = vector.length === 0 ? emptyDefaults(column, selection.length) : gather(vector, safe);
  const values = (gathered as { values: BigInt64Array | Float64Array | Uint8Array }).values;
  for (let i = 0; i < selection.length; i++) {
    if ((selection[i] as number) < 0) {
      if (values instanceof BigInt64Array) values[i] = 0n;
      else values[i] = 0;
    }
  }
  return gathered;
}

function emptyDefaults(column: PlanColumn, length: number): Vector {
  switch (column.type) {
    case 'int64':
    case 'time64ns': return { storage: 'bigint', type: column.type, length, values: new BigInt64Array(length) };
    case 'float64': return { storage: 'float', type: 'float64', length, values: new Float64Array(length) };
    case 'boolean': return { storage: 'bool', type: 'boolean', length, values: new Uint8Array(length) };
    default: return { storage: 'utf8', type: column.type, length, strings: { offsets: new Int32Array(length + 1), bytes: new Uint8Array(0) } };
  }
}

function materialize(chunks: Iterable<Chunk>, columns: readonly PlanColumn[]): Chunk {
  const all: Chunk[] = [];
  for (const chunk of chunks) if (chunk.length > 0) all.push(chunk);
  if (all.length === 0) return { length: 0, vectors: columns.map((c) => emptyDefaults(c, 0)) };
  return concatChunks(all, columns);
}

/** Hash join of `left` and `right` (already running generators of the two inputs). */
export function* runJoin(node: JoinNode, left: Iterable<Chunk>, right: Iterable<Chunk>): Generator<Chunk> {
  const leftRows = materialize(left, node.left.columns);
  const rightRows = materialize(right, node.right.columns);
  const leftKeys = node.leftOn.map((name) => node.left.columns.findIndex((c) => c.name === name));
  const rightKeys = node.rightOn.map((name) => node.right.columns.findIndex((c) => c.name === name));
  if (leftKeys.some((i) => i < 0) || rightKeys.some((i) => i < 0)) throw new Error('prepare join: a key column is not in its input');
  const table = new GroupTable(leftKeys.map((i) => (node.left.columns[i] as PlanColumn).type));
  const rightGroups = table.assign(rightKeys.map((i) => rightRows.vectors[i] as Vector), rightRows.length).slice();
  const leftGroups = table.assign(leftKeys.map((i) => leftRows.vectors[i] as Vector), leftRows.length);
  // Buckets of right rows per group, in row order: head[g] → next[row] → … → -1.
  const head = new Int32Array(table.count).fill(-1);
  const next = new Int32Array(rightRows.length).fill(-1);
  for (let row = rightRows.length - 1; row >= 0; row--) {
    const g = rightGroups[row] as number;
    next[row] = head[g] as number;
    head[g] = row;
  }
  const keepLeft = node.how === 'left' || node.how === 'outer';
  const keepRight = node.how === 'right' || node.how === 'outer';
  const matchedRight = new Uint8Array(rightRows.length);
  const leftSelection = new IntList();
  const rightSelection = new IntList();
  for (let row = 0; row < leftRows.length; row++) {
    let match = head[leftGroups[row] as number] as number;
    if (match < 0 && keepLeft) {
      leftSelection.push(row);
      rightSelection.push(-1);
    }
    while (match >= 0) {
      leftSelection.push(row);
      rightSelection.push(match);
      matchedRight[match] = 1;
      match = next[match] as number;
    }
  }
  if (keepRight) {
    for (let row = 0; row < rightRows.length; row++) {
      if (matchedRight[row] === 0) {
        leftSelection.push(-1);
        rightSelection.push(row);
      }
    }
  }
  const length = leftSelection.length;
  if (length === 0) return;
  const leftIndex = leftSelection.view();
  const rightIndex = rightSelection.view();
  // For right/outer joins, unmatched right rows take their key values into the left key columns.
  const keyFromRight = new Map<number, number>();
  if (keepRight) leftKeys.forEach((l, k) => keyFromRight.set(l, rightKeys[k] as number));
  const vectors = node.outputs.map((output, c): Vector => {
    const column = node.columns[c] as PlanColumn;
    if (output.side === 'right') {
      const index = node.right.columns.findIndex((col) => col.name === output.column);
      return gatherOrDefault(rightRows.vectors[index] as Vector, rightIndex, column);
    }
    const index = node.left.columns.findIndex((col) => col.name === output.column);
    const fromLeft = gatherOrDefault(leftRows.vectors[index] as Vector, leftIndex, column);
    const rightKey = keyFromRight.get(index);
    if (rightKey === undefined) return fromLeft;
    // Fill unmatched-right rows' left key from the right key (so outer joins keep their keys).
    const fromRight = gatherOrDefault(rightRows.vectors[rightKey] as Vector, rightIndex, column);
    const selection = new Int32Array(length);
    for (let i = 0; i < length; i++) selection[i] = (leftIndex[i] as number) < 0 ? length + i : i;
    const both = concatChunks([{ length, vectors: [fromLeft] }, { length, vectors: [fromRight] }], [column]);
    return gather(both.vectors[0] as Vector, selection);
  });
  yield { length, vectors };
}

/** df.append: every input's chunks in order, with its columns reordered to the union's. */
export function* runUnion(node: UnionNode, inputs: readonly (() => Iterable<Chunk>)[]): Generator<Chunk> {
  for (let k = 0; k < inputs.length; k++) {
    const input = node.inputs[k];
    if (!input) throw new Error('prepare union: missing input');
    const order = node.columns.map((c) => input.columns.findIndex((i) => i.name === c.name));
    if (order.some((i) => i < 0)) throw new Error('prepare union: inputs have different columns');
    for (const chunk of (inputs[k] as () => Iterable<Chunk>)()) {
      yield { length: chunk.length, vectors: order.map((i) => chunk.vectors[i] as Vector) };
    }
  }
}
