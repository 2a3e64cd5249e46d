// The scalar function registry: one table of every function a plan may call,
// operators included (Pixie models `a == b` as equal(a, b) too). Adding a
// px.* function is adding an entry here: its script name, its overloads and
// their kernels. The compiler resolves overloads at compile time and records
// the function name and result type in the plan; the executor looks the
// kernel up again by name and argument types.
import type { ColumnType } from '../tables/schema.ts';
import {
  bigArithKernel, byteLengthKernel, compareKernel, concatKernel, containsKernel, floatArithKernel, logicKernel,
  negateKernel, notKernel, scaleKernel, stringMapKernel, toFloatKernel, type CompareOp, type Kernel,
} from './scalar.kernels.ts';
import { LIBRARY_FUNCTIONS } from './scalar.functions.ts';

export type { Kernel } from './scalar.kernels.ts';

export interface Overload {
  readonly args: readonly ColumnType[];
  readonly result: ColumnType;
  readonly kernel: Kernel;
}

export interface ScalarFunction {
  /** The name plans use. */
  readonly name: string;
  /** Callable from scripts as px.<pxName> (operators have none). */
  readonly pxName?: string;
  readonly description: string;
  readonly overloads: readonly Overload[];
  /** Depends on execution context (metadata look-ups): never folded into a constant at compile time. */
  readonly volatile?: boolean;
}

/** The internal conversion the compiler inserts where an int64 meets a float64. */
export const TO_FLOAT64 = 'toFloat64';

const intLike = ['int64', 'time64ns'] as const;
const stringLike = ['string', 'uint128'] as const;

function compareOverloads(op: CompareOp, ordered: boolean): Overload[] {
  const kernel = compareKernel(op);
  const overloads: Overload[] = [];
  for (const a of intLike) for (const b of intLike) overloads.push({ args: [a, b], result: 'boolean', kernel });
  overloads.push({ args: ['float64', 'float64'], result: 'boolean', kernel });
  for (const a of stringLike) for (const b of stringLike) overloads.push({ args: [a, b], result: 'boolean', kernel });
  if (!ordered) overloads.push({ args: ['boolean', 'boolean'], result: 'boolean', kernel });
  return overloads;
}

const durationUnitsNs = { nanoseconds: 1n, microseconds: 1_000n, milliseconds: 1_000_000n, seconds: 1_000_000_000n, minutes: 60_000_000_000n, hours: 3_600_000_000_000n, days: 86_400_000_000_000n } as const;

const functions: ScalarFunction[] = [
  { name: 'equal', description: '==', overloads: compareOverloads('eq', false) },
  { name: 'notEqual', description: '!=', overloads: compareOverloads('ne', false) },
  { name: 'less', description: '<', overloads: compareOverloads('lt', true) },
  { name: 'lessEqual', description: '<=', overloads: compareOverloads('le', true) },
  { name: 'greater', description: '>', overloads: compareOverloads('gt', true) },
  { name: 'greaterEqual', description: '>=', overloads: compareOverloads('ge', true) },
  {
    name: 'add', description: '+', overloads: [
      { args: ['int64', 'int64'], result: 'int64', kernel: bigArithKernel('add') },
      { args: ['time64ns', 'int64'], result: 'time64ns', kernel: bigArithKernel('add') },
      { args: ['int64', 'time64ns'], result: 'time64ns', kernel: bigArithKernel('add') },
      { args: ['float64', 'float64'], result: 'float64', kernel: floatArithKernel('add') },
      { args: ['string', 'string'], result: 'string', kernel: concatKernel },
    ],
  },
  {
    name: 'subtract', description: '-', overloads: [
      { args: ['int64', 'int64'], result: 'int64', kernel: bigArithKernel('sub') },
      { args: ['time64ns', 'int64'], result: 'time64ns', kernel: bigArithKernel('sub') },
      { args: ['time64ns', 'time64ns'], result: 'int64', kernel: bigArithKernel('sub') },
      { args: ['float64', 'float64'], result: 'float64', kernel: floatArithKernel('sub') },
    ],
  },
  {
    name: 'multiply', description: '*', overloads: [
      { args: ['int64', 'int64'], result: 'int64', kernel: bigArithKernel('mul') },
      { args: ['float64', 'float64'], result: 'float64', kernel: floatArithKernel('mul') },
    ],
  },
  {
    // As in Pixie (and Python 3), `/` is true division: int64 / int64 is a float64.
    name: 'divide', description: '/', overloads: [
      { args: ['float64', 'float64'], result: 'float64', kernel: floatArithKernel('div') },
    ],
  },
  {
    name: 'modulo', description: '%', overloads: [
      { args: ['int64', 'int64'], result: 'int64', kernel: bigArithKernel('mod') },
      { args: ['float64', 'float64'], result: 'float64', kernel: floatArithKernel('mod') },
    ],
  },
  {
    name: 'negate', description: 'unary -', overloads: [
      { args: ['int64'], result: 'int64', kernel: negateKernel },
      { args: ['float64'], result: 'float64', kernel: negateKernel },
    ],
  },
  { name: 'and', description: '& / and', overloads: [{ args: ['boolean', 'boolean'], result: 'boolean', kernel: logicKernel('and') }] },
  { name: 'or', description: '| / or', overloads: [{ args: ['boolean', 'boolean'], result: 'boolean', kernel: logicKernel('or') }] },
  { name: 'not', description: '~ / not', overloads: [{ args: ['boolean'], result: 'boolean', kernel: notKernel }] },
  { name: TO_FLOAT64, description: 'int64 to float64', overloads: [{ args: ['int64'], result: 'float64', kernel: toFloatKernel }] },
  {
    name: 'contains', pxName: 'contains', description: 'Whether the first string contains the second.',
    overloads: [{ args: ['string', 'string'], result: 'boolean', kernel: containsKernel }],
  },
  { name: 'length', pxName: 'length', description: 'Length of a string in bytes.', overloads: [{ args: ['string'], result: 'int64', kernel: byteLengthKernel }] },
  { name: 'toupper', pxName: 'toupper', description: 'The string in upper case.', overloads: [{ args: ['string'], result: 'string', kernel: stringMapKernel((s) => s.toUpperCase()) }] },
  { name: 'tolower', pxName: 'tolower', description: 'The string in lower case.', overloads: [{ args: ['string'], result: 'string', kernel: stringMapKernel((s) => s.toLowerCase()) }] },
  ...Object.entries(durationUnitsNs).map(([unit, ns]): ScalarFunction => ({
    name: unit, pxName: unit, description: `A duration of n ${unit}, in ns.`,
    overloads: [{ args: ['int64'], result: 'int64', kernel: scaleKernel(ns) }],
  })),
  ...LIBRARY_FUNCTIONS,
];

/** Every scalar function, by plan name. */
export const SCALAR_FUNCTIONS: ReadonlyMap<string, ScalarFunction> = new Map(functions.map((f) => [f.name, f]));

/** The functions scripts call as px.<name>, by that name. */
export const PX_FUNCTIONS: ReadonlyMap<string, ScalarFunction> = new Map(
  functions.filter((f) => f.pxName !== undefined).map((f) => [f.pxName as string, f]),
);

/** uint128 ids are carried as text, so they go wherever a string goes. */
function accepts(parameter: ColumnType, argument: ColumnType): boolean {
  return parameter === argument || (parameter === 'string' && argument === 'uint128');
}

export interface ResolvedOverload {
  readonly overload: Overload;
  /** Per argument: whether it must be converted to float64 first. */
  readonly toFloat: readonly boolean[];
}

/**
 * The overload of `fn` for these argument types: an exact match first, else
 * one reached by converting int64 arguments to float64 (int meets float).
 */
export function resolveOverload(fn: ScalarFunction, argTypes: readonly ColumnType[]): ResolvedOverload | undefined {
  const candidates = fn.overloads.filter((o) => o.args.length === argTypes.length);
  const exact = candidates.find((o) => o.args.every((p, i) => accepts(p, argTypes[i] as ColumnType)));
  if (exact) return { overload: exact, toFloat: argTypes.map(() => false) };
  for (const overload of candidates) {
    const toFloat = overload.args.map((p, i) => p === 'float64' && argTypes[i] === 'int64');
    if (overload.args.every((p, i) => accepts(p, argTypes[i] as ColumnType) || toFloat[i] === true)) return { overload, toFloat };
  }
  return undefined;
}

/** The kernel a plan's call runs (the executor's lookup; the compiler already checked it exists). */
export function kernelFor(name: string, argTypes: readonly ColumnType[]): { kernel: Kernel; result: ColumnType } {
  const fn = SCALAR_FUNCTIONS.get(name);
  if (!fn) throw new Error(`prepare plan: unknown function ${name}`);
  const resolved = resolveOverload(fn, argTypes);
  if (!resolved || resolved.toFloat.some((x) => x)) {
    throw new Error(`prepare plan: function ${name} has no overload for (${argTypes.join(', ')})`);
  }
  return { kernel: resolved.overload.kernel, result: resolved.overload.result };
}
