// Turns a plan's scalar expression into a closure evaluated once per chunk
// (column-at-a-time). Overloads and column positions are resolved when the
// closure is prepared, never per chunk or per row.
import type { ColumnType } from '../tables/schema.ts';
import { kernelFor } from './function.registry.ts';
import { DEFAULT_KERNEL_CONTEXT, type KernelContext } from './metadata.ts';
import type { Literal, PlanColumn, ScalarExpr } from './plan.ts';
import { vectorStringAt, type Operand, type Scalar, type Vector } from './vector.ts';

/** Rows flowing between operators: one vector per column of the operator's output, `length` rows each. */
export interface Chunk {
  readonly length: number;
  readonly vectors: readonly Vector[];
  /**
   * A filtered chunk not gathered yet: its rows are rows `selected.rows` (`length`
   * of them, ascending) of vectors that hold `selected.of` rows. Only an
   * operator that asks runFragment for selections gets such a chunk (the
   * aggregate, which reads the kept rows in place instead of copying them).
   */
  readonly selected?: { readonly rows: Int32Array; readonly of: number };
}

export type PreparedExpression = (chunk: Chunk) => Operand;

export function scalarFromLiteral(literal: Literal): Scalar {
  switch (literal.type) {
    case 'int64':
    case 'time64ns':
      return { storage: 'scalar', type: literal.type, value: BigInt(literal.value as string) };
    default:
      return { storage: 'scalar', type: literal.type, value: literal.value };
  }
}

/** Row `row` of an operand as a plan literal. */
export function literalFromOperand(operand: Operand, row: number): Literal {
  if (operand.storage === 'scalar') {
    const value = typeof operand.value === 'bigint' ? operand.value.toString() : operand.value;
    return { kind: 'literal', type: operand.type, value };
  }
  const type: ColumnType = operand.type;
  switch (operand.storage) {
    case 'bigint': return { kind: 'literal', type, value: (operand.values[row] as bigint).toString() };
    case 'float': return { kind: 'literal', type, value: operand.values[row] as number };
    case 'bool': return { kind: 'literal', type, value: operand.values[row] === 1 };
    case 'utf8':
    case 'dict': return { kind: 'literal', type, value: vectorStringAt(operand, row) };
  }
}

/** Prepares `expr` over chunks whose columns are `columns`. Throws (plain Error) on a plan that does not fit them. */
export function prepareExpression(expr: ScalarExpr, columns: readonly PlanColumn[], context: KernelContext = DEFAULT_KERNEL_CONTEXT): PreparedExpression {
  switch (expr.kind) {
    case 'literal': {
      const scalar = scalarFromLiteral(expr);
      return () => scalar;
    }
    case 'column': {
      const index = columns.findIndex((c) => c.name === expr.name);
      if (index < 0) throw new Error(`prepare plan: column ${expr.name} is not in the input (${columns.map((c) => c.name).join(', ')})`);
      return (chunk) => chunk.vectors[index] as Vector;
    }
    case 'call': {
      const args = expr.args.map((a) => prepareExpression(a, columns, context));
      const { kernel, result } = kernelFor(expr.fn, expr.args.map((a) => a.type));
      return (chunk) => kernel(args.map((a) => a(chunk)), chunk.length, result, context);
    }
  }
}

/** Evaluates an expression without column references to a literal (constant folding). */
export function evaluateConstant(expr: ScalarExpr): Literal {
  const operand = prepareExpression(expr, [])({ length: 1, vectors: [] });
  return literalFromOperand(operand, 0);
}
