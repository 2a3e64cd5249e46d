// Compiles a PxL script: evaluates its module-level statements symbolically.
// Variables hold compile-time values (the px module, DataFrames bound to plan
// nodes, scalar expressions, constants, lists, callables); px.display calls
// become the outputs. Every refusal is a QueryError at the offending
// construct, raised before anything runs.
import type { SyntaxNode } from '@lezer/common';
import type { ColumnType, TableSpec } from '../tables/schema.ts';
import { evaluateConstant } from './expression.evaluator.ts';
import { aggregateAccepts, aggregateResultType } from './aggregate.executor.ts';
import { PX_FUNCTIONS, SCALAR_FUNCTIONS, TO_FLOAT64, resolveOverload, type ScalarFunction } from './function.registry.ts';
import { planOutput } from './fragment.planner.ts';
import type {
  AggregateFn, AggregateSpec, CompiledOutput, CompiledQuery, JoinNode, JoinOutput, Literal, PlanColumn, PlanNode, QuerySettings, ScalarExpr, SinkNode,
} from './plan.ts';
import { referencedColumns } from './plan.ts';
import { parseScript, type ParsedScript } from './pxl.parser.ts';
import { QueryError } from './query-error.ts';
import { parseTimeText } from './time.format.ts';

/** Where compiled scripts look tables up (the agent's TableSource fits). */
export interface TableCatalog {
  getTable(name: string): TableSpec | undefined;
}

export interface CompileOptions {
  /** "Now" for relative times and px.now(), ns since the epoch (default: the wall clock). */
  readonly nowNs?: bigint;
}

/** The name px.display gives an output when the script names none (Pixie's default). */
export const DEFAULT_OUTPUT_NAME = 'output';
/** Rows df.head() keeps when given no n (Pixie's default). */
export const DEFAULT_HEAD_ROWS = 5;

// --- compile-time values ----------------------------------------------------------

interface CallSite {
  readonly node: SyntaxNode;
  readonly positional: readonly Located[];
  readonly keywords: ReadonlyMap<string, Located>;
}

type Value =
  | { readonly kind: 'module'; readonly name: 'px' }
  | { readonly kind: 'dataframe'; readonly node: PlanNode }
  | { readonly kind: 'expr'; readonly expr: ScalarExpr }
  | { readonly kind: 'none' }
  | { readonly kind: 'list'; readonly items: readonly Located[]; readonly tuple: boolean }
  | { readonly kind: 'callable'; readonly name: string; readonly call: (site: CallSite) => Value }
  | { readonly kind: 'dict'; readonly entries: readonly { readonly key: string; readonly value: Located }[] }
  | { readonly kind: 'grouped'; readonly node: PlanNode; readonly groups: readonly string[] }
  | { readonly kind: 'aggregate'; readonly fn: AggregateFn }
  | { readonly kind: 'ctx'; readonly node: PlanNode };

/** Variables: a function call's locals over the scope it was defined in. */
interface Scope {
  readonly vars: Map<string, Value>;
  readonly parent?: Scope;
}

/** Nested user-function calls allowed (deeper means runaway recursion). */
const MAX_CALL_DEPTH = 64;

/** df.ctx[key] → the upid look-up it reads. */
const CONTEXT_FUNCTIONS: Readonly<Record<string, string>> = Object.freeze({
  pod: 'upid_to_pod_name', pod_name: 'upid_to_pod_name', pod_id: 'upid_to_pod_id', namespace: 'upid_to_namespace',
  service: 'upid_to_service_name', service_name: 'upid_to_service_name', service_id: 'upid_to_service_id',
  node: 'upid_to_node_name', node_name: 'upid_to_node_name', container: 'upid_to_container_name',
  container_name: 'upid_to_container_name', container_id: 'upid_to_container_id', pid: 'upid_to_pid',
  cmdline: 'upid_to_cmdline', cmd: 'upid_to_cmdline', hostname: 'upid_to_hostname',
});

const AGGREGATE_FUNCTIONS: ReadonlySet<string> = new Set<AggregateFn>(['count', 'sum', 'mean', 'min', 'max', 'any', 'quantiles']);
const JOIN_KINDS: ReadonlySet<string> = new Set(['inner', 'left', 'right', 'outer']);

/** A value with the syntax node it came from (for error positions). */
interface Located {
  readonly value: Value;
  readonly node: SyntaxNode;
  /** For keyword arguments: the keyword. */
  readonly keywordNode?: SyntaxNode;
}

const NONE: Value = Object.freeze({ kind: 'none' });
const PUNCTUATION = new Set(['(', ')', '[', ']', '{', '}', ',', '.', ':', 'Comment']);

function describe(value: Value): string {
  switch (value.kind) {
    case 'module': return `module ${value.name}`;
    case 'dataframe': return 'DataFrame';
    case 'expr': return value.expr.kind === 'literal' ? `${value.expr.type} constant` : `${value.expr.type} column expression`;
    case 'none': return 'None';
    case 'list': return value.tuple ? 'tuple' : 'list';
    case 'callable': return `function ${value.name}`;
    case 'dict': return 'dict';
    case 'grouped': return 'grouped DataFrame';
    case 'aggregate': return `aggregate px.${value.fn}`;
    case 'ctx': return 'DataFrame context';
  }
}

function children(node: SyntaxNode): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  for (let child = node.firstChild; child; child = child.nextSibling) out.push(child);
  return out;
}

function significantChildren(node: SyntaxNode): SyntaxNode[] {
  return children(node).filter((c) => !PUNCTUATION.has(c.name));
}

function literal(type: ColumnType, value: string | number | boolean): Literal {
  return { kind: 'literal', type, value };
}

const STATEMENT_WORDS: Readonly<Record<string, string>> = Object.freeze({
  FunctionDefinition: 'def', ClassDefinition: 'class', IfStatement: 'if', ForStatement: 'for', WhileStatement: 'while',
  TryStatement: 'try', WithStatement: 'with', ReturnStatement: 'return', UpdateStatement: 'augmented assignment',
  ImportStatement: 'import', DeleteStatement: 'del', GlobalStatement: 'global', AssertStatement: 'assert',
  RaiseStatement: 'raise', DecoratedStatement: 'decorator', MatchStatement: 'match', PassStatement: 'pass',
});

const BINARY_FUNCTIONS: Readonly<Record<string, string>> = Object.freeze({
  '==': 'equal', '!=': 'notEqual', '<': 'less', '<=': 'lessEqual', '>': 'greater', '>=': 'greaterEqual',
  '+': 'add', '-': 'subtract', '*': 'multiply', '/': 'divide', '%': 'modulo',
  '&': 'and', '|': 'or',
});

const COMPARISONS = new Set(['==', '!=', '<', '<=', '>', '>=']);

class Compiler {
  readonly #script: ParsedScript;
  readonly #catalog: TableCatalog;
  readonly #nowNs: bigint;
  readonly #globals: Scope = { vars: new Map<string, Value>() };
  #scope: Scope = this.#globals;
  #depth = 0;
  readonly #outputs: { name: string; plan: SinkNode }[] = [];

  constructor(script: ParsedScript, catalog: TableCatalog, nowNs: bigint) {
    this.#script = script;
    this.#catalog = catalog;
    this.#nowNs = nowNs;
  }

  compile(): { name: string; plan: SinkNode }[] {
    for (const statement of children(this.#script.tree.topNode)) {
      if (statement.name !== 'Comment') this.#checkIndent(statement);
      if (statement.name === 'ReturnStatement') throw this.#error(statement, "'return' outside function");
      this.#statement(statement);
    }
    return this.#outputs;
  }

  /** Lezer accepts a stray indent at module level; Python does not. */
  #checkIndent(statement: SyntaxNode): void {
    const source = this.#script.source;
    let at = statement.from;
    while (at > 0 && (source[at - 1] === ' ' || source[at - 1] === '\t')) at--;
    if (at < statement.from && (at === 0 || source[at - 1] === '\n' || source[at - 1] === '\r')) {
      throw this.#error(statement, 'syntax error: unexpected indent');
    }
  }

  #error(node: SyntaxNode, message: string): QueryError {
    return new QueryError(message, this.#script.positions.at(node.from));
  }

  #text(node: SyntaxNode): string {
    return this.#script.source.slice(node.from, node.to);
  }

  // --- statements -------------------------------------------------------------------

  /** Runs one statement; a `return` (inside a function) gives the returned value. */
  #statement(node: SyntaxNode): Value | undefined {
    switch (node.name) {
      case 'Comment': return undefined; // "#px:set" pragmas are read by compileScript.
      case 'ImportStatement': this.#import(node); return undefined;
      case 'AssignStatement': this.#assign(node); return undefined;
      case 'PassStatement': return undefined;
      case 'ExpressionStatement': {
        const [expression] = significantChildren(node);
        if (expression) this.#evaluate(expression);
        return undefined;
      }
      case 'FunctionDefinition': this.#define(node); return undefined;
      case 'ReturnStatement': {
        const [expression] = significantChildren(node).filter((c) => c.name !== 'return');
        return expression ? this.#evaluate(expression) : NONE;
      }
      case 'IfStatement': return this.#if(node);
      default: {
        const word = STATEMENT_WORDS[node.name];
        throw this.#error(node, word ? `unsupported statement: ${word}` : `unsupported syntax: ${node.name}`);
      }
    }
  }

  /** Runs a block's statements until a return. */
  #body(body: SyntaxNode): Value | undefined {
    for (const statement of children(body)) {
      if (statement.name === ':' || statement.name === 'Comment') continue;
      const returned = this.#statement(statement);
      if (returned !== undefined) return returned;
    }
    return undefined;
  }

  /** `if` with conditions known at compile time (constants, arguments): runs the chosen block. */
  #if(node: SyntaxNode): Value | undefined {
    const parts = children(node);
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] as SyntaxNode;
      if (part.name === 'if' || part.name === 'elif') {
        const condition = parts[i + 1] as SyntaxNode;
        const value = this.#evaluate(condition);
        let holds: boolean;
        if (value.kind === 'expr' && value.expr.kind === 'literal') holds = value.expr.value !== false && value.expr.value !== 0 && value.expr.value !== '' && value.expr.value !== '0';
        else if (value.kind === 'none') holds = false;
        else if (value.kind === 'list') holds = value.items.length > 0;
        else throw this.#error(condition, `if: the condition must be known before the query runs, got ${describe(value)} (filter rows with df[…] or px.select)`);
        if (holds) return this.#body(parts[i + 2] as SyntaxNode);
        i += 2;
      } else if (part.name === 'else') {
        return this.#body(parts[i + 1] as SyntaxNode);
      }
    }
    return undefined;
  }

  /** `def name(params): body`: a callable evaluated symbolically at each call (defaults evaluated once, here). */
  #define(node: SyntaxNode): void {
    const parts = children(node);
    const nameNode = parts.find((p) => p.name === 'VariableName');
    const paramList = parts.find((p) => p.name === 'ParamList');
    const body = parts.find((p) => p.name === 'Body');
    if (!nameNode || !paramList || !body) throw this.#error(node, 'syntax error: incomplete def');
    const name = this.#text(nameNode);
    const params: { name: string; node: SyntaxNode; fallback?: Located }[] = [];
    const paramParts = children(paramList);
    for (let i = 0; i < paramParts.length; i++) {
      const part = paramParts[i] as SyntaxNode;
      if (part.name === 'VariableName') {
        const previous = paramParts[i - 1];
        if (previous?.name === '*' || previous?.name === '**') throw this.#error(part, `${name}: *args and **kwargs are not supported`);
        params.push({ name: this.#text(part), node: part });
      } else if (part.name === 'AssignOp') {
        const valueNode = paramParts[i + 1] as SyntaxNode;
        const last = params[params.length - 1];
        if (!last) throw this.#error(part, 'syntax error: default without a parameter');
        last.fallback = { value: this.#evaluate(valueNode), node: valueNode };
        i++;
      }
    }
    const seen = new Set<string>();
    let defaults = false;
    for (const param of params) {
      if (seen.has(param.name)) throw this.#error(param.node, `${name}: duplicate parameter '${param.name}'`);
      seen.add(param.name);
      if (param.fallback) defaults = true;
      else if (defaults && !paramParts.some((p) => p.name === '*')) throw this.#error(param.node, `${name}: parameter without a default after one with a default`);
    }
    const defining = this.#scope;
    this.#scope.vars.set(name, {
      kind: 'callable', name, call: (site) => {
        const bound = this.#bind(site, name, params.map((p) => p.name), 0);
        const vars = new Map<string, Value>();
        for (const param of params) {
          const arg = bound.get(param.name) ?? param.fallback;
          if (!arg) throw this.#error(site.node, `${name}: missing argument '${param.name}'`);
          vars.set(param.name, arg.value);
        }
        if (this.#depth >= MAX_CALL_DEPTH) throw this.#error(site.node, `${name}: calls nested more than ${MAX_CALL_DEPTH} deep (runaway recursion?)`);
        const caller = this.#scope;
        this.#scope = { vars, parent: defining };
        this.#depth++;
        try {
          return this.#body(body) ?? NONE;
        } finally {
          this.#depth--;
          this.#scope = caller;
        }
      },
    });
  }

  #import(node: SyntaxNode): void {
    const parts = children(node);
    if (parts[0]?.name !== 'import') throw this.#error(node, 'unsupported statement: from … import (write "import px")');
    const names = parts.filter((p) => p.name === 'VariableName');
    const module = names[0];
    if (!module || names.length > 2 || parts.some((p) => p.name === ',')) throw this.#error(node, 'unsupported import: write "import px"');
    if (this.#text(module) !== 'px') throw this.#error(module, `unknown module '${this.#text(module)}' (only px can be imported)`);
    const alias = names[1] ?? module;
    this.#scope.vars.set(this.#text(alias), { kind: 'module', name: 'px' });
  }

  #assign(node: SyntaxNode): void {
    const parts = children(node);
    const operators = parts.filter((p) => p.name === 'AssignOp');
    if (operators.length !== 1 || parts.length !== 3) throw this.#error(node, 'unsupported assignment: use one target per assignment');
    const [target, , valueNode] = parts as [SyntaxNode, SyntaxNode, SyntaxNode];
    if (target.name === 'VariableName') {
      this.#scope.vars.set(this.#text(target), this.#evaluate(valueNode));
      return;
    }
    if (target.name === 'MemberExpression') return this.#assignColumn(target, valueNode);
    throw this.#error(target, `unsupported assignment target: ${target.name}`);
  }

  /** `df.x = expr` / `df['x'] = expr`: rebinds the variable to df with the column added or replaced. */
  #assignColumn(target: SyntaxNode, valueNode: SyntaxNode): void {
    const [objectNode, keyNode] = significantChildren(target) as [SyntaxNode, SyntaxNode | undefined];
    if (objectNode.name !== 'VariableName' || !keyNode) throw this.#error(target, 'unsupported assignment target: assign columns of a DataFrame variable (df.x = …)');
    const frame = this.#lookup(objectNode);
    if (frame.kind !== 'dataframe') throw this.#error(objectNode, `cannot assign a column of ${describe(frame)}`);
    let name: string;
    if (keyNode.name === 'PropertyName') name = this.#text(keyNode);
    else {
      const key = this.#evaluate(keyNode);
      if (key.kind !== 'expr' || key.expr.kind !== 'literal' || key.expr.type !== 'string') throw this.#error(keyNode, 'column name must be a string');
      name = key.expr.value as string;
    }
    const value = this.#evaluate(valueNode);
    if (value.kind !== 'expr') throw this.#error(valueNode, `cannot assign ${describe(value)} to column '${name}'`);
    this.#checkColumns(frame.node, value.expr, valueNode);
    const assignments = frame.node.columns.map((c) => ({ name: c.name, expr: c.name === name ? value.expr : columnRef(c) }));
    if (!frame.node.columns.some((c) => c.name === name)) assignments.push({ name, expr: value.expr });
    this.#scope.vars.set(this.#text(objectNode), { kind: 'dataframe', node: mapNode(frame.node, assignments) });
  }

  // --- expressions ------------------------------------------------------------------

  #lookup(node: SyntaxNode): Value {
    const name = this.#text(node);
    let value: Value | undefined;
    for (let scope: Scope | undefined = this.#scope; scope && value === undefined; scope = scope.parent) value = scope.vars.get(name);
    if (!value) throw this.#error(node, name === 'px' ? "name 'px' is not defined (add \"import px\")" : `name '${name}' is not defined`);
    return value;
  }

  #evaluate(node: SyntaxNode): Value {
    switch (node.name) {
      case 'VariableName': return this.#lookup(node);
      case 'Number': return { kind: 'expr', expr: this.#number(node) };
      case 'String': return { kind: 'expr', expr: literal('string', this.#string(node)) };
      case 'ContinuedString': return { kind: 'expr', expr: literal('string', children(node).map((c) => this.#string(c)).join('')) };
      case 'Boolean': return { kind: 'expr', expr: literal('boolean', this.#text(node) === 'True') };
      case 'None': return NONE;
      case 'ParenthesizedExpression': {
        const [inner] = significantChildren(node);
        if (!inner) throw this.#error(node, 'empty parentheses');
        return this.#evaluate(inner);
      }
      case 'ArrayExpression':
      case 'TupleExpression':
        return { kind: 'list', tuple: node.name === 'TupleExpression', items: significantChildren(node).map((c) => ({ value: this.#evaluate(c), node: c })) };
      case 'MemberExpression': return this.#member(node);
      case 'CallExpression': return this.#call(node);
      case 'BinaryExpression': return this.#binary(node);
      case 'UnaryExpression': return this.#unary(node);
      case 'FormatString': return this.#formatString(node);
      case 'DictionaryExpression': {
        const items = significantChildren(node);
        const entries: { key: string; value: Located }[] = [];
        for (let i = 0; i + 1 < items.length; i += 2) {
          const keyNode = items[i] as SyntaxNode;
          const valueNode = items[i + 1] as SyntaxNode;
          entries.push({ key: this.#stringConstant({ value: this.#evaluate(keyNode), node: keyNode }, 'dict key'), value: { value: this.#evaluate(valueNode), node: valueNode } });
        }
        return { kind: 'dict', entries };
      }
      default: throw this.#error(node, `unsupported syntax: ${node.name}`);
    }
  }

  #number(node: SyntaxNode): Literal {
    const text = this.#text(node).replaceAll('_', '');
    if (/[jJ]$/.test(text)) throw this.#error(node, 'unsupported literal: complex numbers');
    if (/^0[xob]/i.test(text) || /^\d+$/.test(text)) {
      const value = BigInt(text);
      if (value > 0x7fffffffffffffffn) throw this.#error(node, `integer ${text} does not fit in int64`);
      return literal('int64', value.toString());
    }
    const value = Number(text);
    if (!Number.isFinite(value)) throw this.#error(node, `invalid number ${text}`);
    return literal('float64', value);
  }

  /** The value of one string literal (prefixes, quotes and escapes as in Python). */
  #string(node: SyntaxNode): string {
    const text = this.#text(node);
    const prefix = /^[a-zA-Z]*/.exec(text)?.[0] ?? '';
    const lower = prefix.toLowerCase();
    if (lower.includes('b')) throw this.#error(node, 'unsupported literal: bytes');
        const quoted = text.slice(prefix.length);
    const quote = quoted.startsWith('"""') || quoted.startsWith("'''") ? quoted.slice(0, 3) : quoted.slice(0, 1);
    const body = quoted.slice(quote.length, quoted.length - quote.length);
    return lower.includes('r') ? body : unescape(body);
  }

  /** f"…{expr}…": string constants and columns joined with string +; ints and floats formatted. */
  #formatString(node: SyntaxNode): Value {
    const text = this.#text(node);
    const prefix = /^[a-zA-Z]*/.exec(text)?.[0] ?? '';
    const raw = prefix.toLowerCase().includes('r');
    const quoted = text.slice(prefix.length);
    const quote = quoted.startsWith('"""') || quoted.startsWith("'''") ? 3 : 1;
    let at = node.from + prefix.length + quote;
    const end = node.to - quote;
    const pieces: Located[] = [];
    const literalPiece = (from: number, to: number): void => {
      if (to <= from) return;
      let piece = this.#script.source.slice(from, to).replaceAll('{{', '{').replaceAll('}}', '}');
      if (!raw) piece = unescape(piece);
      pieces.push({ value: { kind: 'expr', expr: literal('string', piece) }, node });
    };
    for (const replacement of children(node)) {
      if (replacement.name !== 'FormatReplacement') continue;
      literalPiece(at, replacement.from);
      at = replacement.to;
      const inner = significantChildren(replacement);
      if (inner.some((c) => c.name === 'FormatSpec' || c.name === 'FormatConversion')) throw this.#error(replacement, 'unsupported syntax: f-string format specs');
      const expression = inner[0];
      if (!expression) throw this.#error(replacement, 'syntax error: empty f-string replacement');
      const value = this.#evaluate(expression);
      if (value.kind !== 'expr') throw this.#error(expression, `f-string: cannot format ${describe(value)}`);
      pieces.push({ value: { kind: 'expr', expr: this.#asString(value.expr, expression) }, node: expression });
    }
    literalPiece(at, end);
    if (pieces.length === 0) return { kind: 'expr', expr: literal('string', '') };
    let result = pieces[0] as Located;
    for (const piece of pieces.slice(1)) result = { value: this.#apply('add', '+', [result, piece], node), node };
    return result.value;
  }

  /** An expression as text (f-strings): strings as they are, constants formatted, int columns through itoa. */
  #asString(expr: ScalarExpr, node: SyntaxNode): ScalarExpr {
    if (expr.type === 'string' || expr.type === 'uint128') return expr;
    if (expr.kind === 'literal') {
      if (expr.type === 'boolean') return literal('string', expr.value === true ? 'True' : 'False');
      return literal('string', String(expr.value));
    }
    if (expr.type === 'int64') return { kind: 'call', fn: 'itoa', args: [expr], type: 'string' };
    throw this.#error(node, `f-string: cannot format a ${expr.type} column`);
  }

  #member(node: SyntaxNode): Value {
    const parts = children(node);
    const objectNode = parts[0] as SyntaxNode;
    const object = this.#evaluate(objectNode);
    if (parts[1]?.name === '.') {
      const property = parts[2] as SyntaxNode;
      return this.#attribute(object, property);
    }
    // Subscript: obj[a] or obj[a, b] (a tuple) or a slice.
    if (parts.some((p) => p.name === ':')) throw this.#error(node, 'unsupported syntax: slices');
    const keys = significantChildren(node).slice(1);
    if (object.kind === 'ctx' && keys.length === 1) return this.#context(object.node, keys[0] as SyntaxNode);
    if ((object.kind === 'dict' || object.kind === 'list') && keys.length === 1) return this.#element(object, keys[0] as SyntaxNode);
    if (object.kind !== 'dataframe') throw this.#error(objectNode, `cannot subscript ${describe(object)}`);
    if (keys.length === 0) throw this.#error(node, 'empty subscript');
    if (keys.length > 1) return this.#project(object.node, keys.map((k) => ({ value: this.#evaluate(k), node: k })), node);
    const keyNode = keys[0] as SyntaxNode;
    const key = this.#evaluate(keyNode);
    if (key.kind === 'list') return this.#project(object.node, key.items, keyNode);
    if (key.kind === 'expr' && key.expr.kind === 'literal' && key.expr.type === 'string') {
      return { kind: 'expr', expr: this.#column(object.node, key.expr.value as string, keyNode) };
    }
    if (key.kind === 'expr' && key.expr.type === 'boolean') {
      this.#checkColumns(object.node, key.expr, keyNode);
      const predicate = key.expr;
      if (predicate.kind === 'literal' && predicate.value === true) return object;
      return { kind: 'dataframe', node: { op: 'filter', input: object.node, predicate, columns: object.node.columns } };
    }
    throw this.#error(keyNode, `cannot index a DataFrame with ${describe(key)} (use a boolean expression, a column name or a list of names)`);
  }

  #column(frame: PlanNode, name: string, node: SyntaxNode): ScalarExpr {
    const column = frame.columns.find((c) => c.name === name);
    if (!column) throw this.#error(node, `unknown column '${name}' (DataFrame has ${listNames(frame.columns.map((c) => c.name))})`);
    return columnRef(column);
  }

  /** Keeps `items` (column names) in that order. */
  #project(frame: PlanNode, items: readonly Located[], node: SyntaxNode): Value {
    const names = items.map((item) => this.#columnName(item));
    const assignments = names.map((name, i) => ({ name, expr: this.#column(frame, name, (items[i] as Located).node) }));
    const seen = new Set<string>();
    names.forEach((name, i) => {
      if (seen.has(name)) throw this.#error((items[i] as Located).node, `column '${name}' selected twice`);
      seen.add(name);
    });
    if (names.length === 0) throw this.#error(node, 'select at least one column');
    return { kind: 'dataframe', node: mapNode(frame, assignments) };
  }

  #columnName(item: Located): string {
    const { value } = item;
    if (value.kind === 'expr' && value.expr.kind === 'literal' && value.expr.type === 'string') return value.expr.value as string;
    throw this.#error(item.node, `expected a column name (string), got ${describe(value)}`);
  }

  /** Every column `expr` reads must be a column of `frame` (expressions of another DataFrame may not fit it). */
  #checkColumns(frame: PlanNode, expr: ScalarExpr, node: SyntaxNode): void {
    for (const name of referencedColumns(expr)) {
      if (!frame.columns.some((c) => c.name === name)) throw this.#error(node, `column '${name}' is not in this DataFrame (it has ${listNames(frame.columns.map((c) => c.name))})`);
    }
  }

  #attribute(object: Value, property: SyntaxNode): Value {
    const name = this.#text(property);
    if (object.kind === 'module') {
      const builtin = this.#pxBuiltin(name);
      if (builtin) return builtin;
      const fn = PX_FUNCTIONS.get(name);
      if (fn) return { kind: 'callable', name: `px.${name}`, call: (site) => this.#callScalar(fn, `px.${name}`, site) };
      throw this.#error(property, `px has no function '${name}'`);
    }
    if (object.kind === 'grouped' && name === 'agg') {
      return { kind: 'callable', name: 'agg', call: (site) => this.#aggregate(object.node, object.groups, site) };
    }
    if (object.kind === 'dataframe') {
      if (name === 'ctx') return { kind: 'ctx', node: object.node };
      const method = this.#dataFrameMethod(object.node, name);
      if (method) return method;
      return { kind: 'expr', expr: this.#column(object.node, name, property) };
    }
    throw this.#error(property, `${describe(object)} has no attribute '${name}'`);
  }

  #call(node: SyntaxNode): Value {
    const [calleeNode, argList] = children(node) as [SyntaxNode, SyntaxNode];
    const callee = this.#evaluate(calleeNode);
    if (callee.kind !== 'callable') throw this.#error(calleeNode, `${describe(callee)} is not callable`);
    const positional: Located[] = [];
    const keywords = new Map<string, Located>();
    const parts = children(argList).filter((c) => c.name !== '(' && c.name !== ')' && c.name !== 'Comment');
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] as SyntaxNode;
      if (part.name === ',') continue;
      if (part.name === '*' || part.name === '**') throw this.#error(part, 'unsupported syntax: argument unpacking');
      const next = parts[i + 1];
      if (part.name === 'VariableName' && next?.name === 'AssignOp') {
        const valueNode = parts[i + 2];
        if (!valueNode) throw this.#error(part, 'keyword argument without a value');
        const keyword = this.#text(part);
        if (keywords.has(keyword)) throw this.#error(part, `${callee.name}: argument '${keyword}' given twice`);
        keywords.set(keyword, { value: this.#evaluate(valueNode), node: valueNode, keywordNode: part });
        i += 2;
        continue;
      }
      if (keywords.size > 0) throw this.#error(part, 'positional argument after keyword argument');
      positional.push({ value: this.#evaluate(part), node: part });
    }
    return callee.call({ node, positional, keywords });
  }

  /** Matches a call's arguments to named parameters (Python rules, no *args). */
  #bind(site: CallSite, fnName: string, parameters: readonly string[], required: number): Map<string, Located> {
    const bound = new Map<string, Located>();
    if (site.positional.length > parameters.length) {
      throw this.#error((site.positional[parameters.length] as Located).node, `${fnName} takes at most ${parameters.length} argument${parameters.length === 1 ? '' : 's'}`);
    }
    site.positional.forEach((arg, i) => bound.set(parameters[i] as string, arg));
    for (const [keyword, arg] of site.keywords) {
      if (!parameters.includes(keyword)) throw this.#error(arg.keywordNode ?? arg.node, `${fnName} has no argument '${keyword}'`);
      if (bound.has(keyword)) throw this.#error(arg.keywordNode ?? arg.node, `${fnName}: argument '${keyword}' given twice`);
      bound.set(keyword, arg);
    }
    for (const parameter of parameters.slice(0, required)) {
      if (!bound.has(parameter)) throw this.#error(site.node, `${fnName}: missing argument '${parameter}'`);
    }
    return bound;
  }

  /** The operator between a binary expression's operands ("==", "and", "not in", …). */
  #binaryOperator(node: SyntaxNode): string {
    const parts = children(node);
    return this.#script.source.slice((parts[0] as SyntaxNode).to, (parts[parts.length - 1] as SyntaxNode).from)
      .replace(/#.*$/gm, '').trim().replace(/\s+/g, ' ');
  }

  #isBooleanWord(node: SyntaxNode): boolean {
    if (node.name === 'BinaryExpression') {
      const op = this.#binaryOperator(node);
      return op === 'and' || op === 'or';
    }
    return node.name === 'UnaryExpression' && node.firstChild?.name === 'not';
  }

  /**
   * `and`, `or` and `not` with Python's precedence (not > and > or). The
   * Lezer grammar gives `not` the lowest precedence (it reads `not a or b`
   * as `not (a or b)`), so the words and their operands are flattened in
   * source order and parsed again here.
   */
  #booleanWords(node: SyntaxNode): Value {
    const tokens: (SyntaxNode | 'and' | 'or' | 'not')[] = [];
    const flatten = (at: SyntaxNode): void => {
      if (!this.#isBooleanWord(at)) {
        tokens.push(at);
        return;
      }
      const parts = children(at);
      if (at.name === 'UnaryExpression') {
        tokens.push('not');
        flatten(parts[parts.length - 1] as SyntaxNode);
        return;
      }
      flatten(parts[0] as SyntaxNode);
      tokens.push(this.#binaryOperator(at) as 'and' | 'or');
      flatten(parts[parts.length - 1] as SyntaxNode);
    };
    flatten(node);
    let at = 0;
    const parseOr = (): Located => {
      let left = parseAnd();
      while (tokens[at] === 'or') {
        at++;
        const right = parseAnd();
        left = { value: this.#apply('or', 'or', [left, right], left.node), node: left.node };
      }
      return left;
    };
    const parseAnd = (): Located => {
      let left = parseNot();
      while (tokens[at] === 'and') {
        at++;
        const right = parseNot();
        left = { value: this.#apply('and', 'and', [left, right], left.node), node: left.node };
      }
      return left;
    };
    const parseNot = (): Located => {
      const token = tokens[at++];
      if (token === 'not') {
        const operand = parseNot();
        return { value: this.#apply('not', 'not', [operand], operand.node), node: operand.node };
      }
      if (token === undefined || typeof token === 'string') throw this.#error(node, 'syntax error: misplaced and/or/not');
      return { value: this.#evaluate(token), node: token };
    };
    return parseOr().value;
  }

  #binary(node: SyntaxNode): Value {
    const parts = children(node);
    const leftNode = parts[0] as SyntaxNode;
    const rightNode = parts[parts.length - 1] as SyntaxNode;
    const op = this.#binaryOperator(node);
    if (op === 'and' || op === 'or') return this.#booleanWords(node);
    const fn = BINARY_FUNCTIONS[op];
    if (!fn) throw this.#error(parts[1] ?? node, `unsupported operator '${op}'`);
    // Python chains comparisons: a < b < c means (a < b) and (b < c).
    if (COMPARISONS.has(op) && leftNode.name === 'BinaryExpression') {
      const leftParts = children(leftNode);
      const middle = leftParts[leftParts.length - 1] as SyntaxNode;
      if (COMPARISONS.has(this.#binaryOperator(leftNode))) {
        const first = this.#evaluate(leftNode);
        const second = this.#apply(fn, op, [{ value: this.#evaluate(middle), node: middle }, { value: this.#evaluate(rightNode), node: rightNode }], node);
        return this.#apply('and', 'and', [{ value: first, node: leftNode }, { value: second, node }], node);
      }
    }
    return this.#apply(fn, op, [{ value: this.#evaluate(leftNode), node: leftNode }, { value: this.#evaluate(rightNode), node: rightNode }], node);
  }

  #unary(node: SyntaxNode): Value {
    const parts = children(node);
    const operandNode = parts[parts.length - 1] as SyntaxNode;
    const op = this.#text(parts[0] as SyntaxNode);
    if (op === 'not') return this.#booleanWords(node);
    const operand: Located = { value: this.#evaluate(operandNode), node: operandNode };
    if (op === '+') {
      if (operand.value.kind === 'expr' && (operand.value.expr.type === 'int64' || operand.value.expr.type === 'float64')) return operand.value;
      throw this.#error(operandNode, `unsupported operand type for unary +: ${describe(operand.value)}`);
    }
    const fn = op === '-' ? 'negate' : op === '~' || op === 'not' ? 'not' : undefined;
    if (!fn) throw this.#error(node, `unsupported operator '${op}'`);
    return this.#apply(fn, op, [operand], node);
  }

  /** An operator on expressions: resolves the overload (int meets float → float), folds constants. */
  #apply(fnName: string, op: string, args: readonly Located[], node: SyntaxNode): Value {
    const fn = SCALAR_FUNCTIONS.get(fnName) as ScalarFunction;
    const exprs: ScalarExpr[] = [];
    for (const arg of args) {
      if (arg.value.kind !== 'expr') throw this.#error(arg.node, `unsupported operand for '${op}': ${describe(arg.value)}`);
      exprs.push(arg.value.expr);
    }
    const types = exprs.map((e) => e.type);
    const resolved = resolveOverload(fn, types);
    if (!resolved) {
      const hint = (op === '&' || op === '|') && types.some((t) => t !== 'boolean')
        ? ` (comparisons bind more loosely than ${op}: write (a == 1) ${op} (b == 2))` : '';
      throw this.#error(node, `unsupported operand types for '${op}': ${types.join(' and ')}${hint}`);
    }
    return { kind: 'expr', expr: this.#callExpr(fn, resolved.toFloat, exprs, resolved.overload.result) };
  }

  #callExpr(fn: ScalarFunction, toFloat: readonly boolean[], args: readonly ScalarExpr[], type: ColumnType): ScalarExpr {
    const converted = args.map((a, i) => (toFloat[i] === true ? fold({ kind: 'call', fn: TO_FLOAT64, args: [a], type: 'float64' }) : a));
    return fold({ kind: 'call', fn: fn.name, args: converted, type });
  }

  /** px.<function>(…) from the registry. */
  #callScalar(fn: ScalarFunction, fnName: string, site: CallSite): Value {
    if (site.keywords.size > 0) throw this.#error(site.keywords.values().next().value?.node ?? site.node, `${fnName} takes no keyword arguments`);
    const exprs: ScalarExpr[] = [];
    for (const arg of site.positional) {
      if (arg.value.kind !== 'expr') throw this.#error(arg.node, `${fnName}: expected a column expression or constant, got ${describe(arg.value)}`);
      exprs.push(arg.value.expr);
    }
    const resolved = resolveOverload(fn, exprs.map((e) => e.type));
    if (resolved) return { kind: 'expr', expr: this.#callExpr(fn, resolved.toFloat, exprs, resolved.overload.result) };
    const arities = [...new Set(fn.overloads.map((o) => o.args.length))];
    if (!arities.includes(exprs.length)) throw this.#error(site.node, `${fnName} takes ${arities.join(' or ')} argument(s), got ${exprs.length}`);
    // Point at the first argument no overload of this arity takes.
    const candidates = fn.overloads.filter((o) => o.args.length === exprs.length);
    const bad = exprs.findIndex((e, i) => !candidates.some((o) => o.args[i] === e.type || (o.args[i] === 'string' && e.type === 'uint128') || (o.args[i] === 'float64' && e.type === 'int64')));
    const expected = [...new Set(candidates.map((o) => o.args[Math.max(bad, 0)]))].join(' or ');
    const at = bad >= 0 ? bad : 0;
    throw this.#error((site.positional[at] as Located).node, `${fnName}: argument ${at + 1} must be ${expected}, got ${exprs[at]?.type}`);
  }

  // --- px builtins and DataFrame methods -----------------------------------------------

  #pxBuiltin(name: string): Value | undefined {
    switch (name) {
      case 'DataFrame': return { kind: 'callable', name: 'px.DataFrame', call: (site) => this.#dataFrame(site) };
      case 'display': return { kind: 'callable', name: 'px.display', call: (site) => this.#display(site) };
      case 'equals_any': return { kind: 'callable', name: 'px.equals_any', call: (site) => this.#equalsAny(site) };
      case 'script_reference': return { kind: 'callable', name: 'px.script_reference', call: (site) => this.#scriptReference(site) };
      case 'now': return {
        kind: 'callable', name: 'px.now', call: (site) => {
          this.#bind(site, 'px.now', [], 0);
          return { kind: 'expr', expr: literal('time64ns', this.#nowNs.toString()) };
        },
      };
      default: return AGGREGATE_FUNCTIONS.has(name) ? { kind: 'aggregate', fn: name as AggregateFn } : undefined;
    }
  }

  /** px.equals_any(x, [a, b, …]): x == a or x == b or … */
  #equalsAny(site: CallSite): Value {
    const args = this.#bind(site, 'px.equals_any', ['value', 'candidates'], 2);
    const value = args.get('value') as Located;
    const candidates = args.get('candidates') as Located;
    if (candidates.value.kind !== 'list' || candidates.value.items.length === 0) throw this.#error(candidates.node, `px.equals_any: expected a non-empty list, got ${describe(candidates.value)}`);
    let result: Located | undefined;
    for (const item of candidates.value.items) {
      const equal: Located = { value: this.#apply('equal', '==', [value, item], item.node), node: item.node };
      result = result ? { value: this.#apply('or', 'or', [result, equal], site.node), node: site.node } : equal;
    }
    return (result as Located).value;
  }

  /** px.script_reference(label, script, {'arg': value, …}). */
  #scriptReference(site: CallSite): Value {
    const args = this.#bind(site, 'px.script_reference', ['label', 'script', 'args'], 2);
    const positional: Located[] = [args.get('label') as Located, args.get('script') as Located];
    const extra = args.get('args');
    if (extra && extra.value.kind !== 'none') {
      if (extra.value.kind !== 'dict') throw this.#error(extra.node, `px.script_reference: args must be a dict, got ${describe(extra.value)}`);
      for (const entry of extra.value.entries) {
        positional.push({ value: { kind: 'expr', expr: literal('string', entry.key) }, node: extra.node });
        const entryValue = entry.value.value;
        positional.push(entryValue.kind === 'expr' ? { value: { kind: 'expr', expr: this.#asString(entryValue.expr, entry.value.node) }, node: entry.value.node } : entry.value);
      }
    }
    const fn = PX_FUNCTIONS.get('script_reference') as ScalarFunction;
    return this.#callScalar(fn, 'px.script_reference', { node: site.node, positional, keywords: new Map() });
  }

  /** dict['key'], list[i] and tuple[i] with constant keys. */
  #element(object: Extract<Value, { kind: 'dict' | 'list' }>, keyNode: SyntaxNode): Value {
    const key = this.#evaluate(keyNode);
    if (object.kind === 'dict') {
      const name = this.#stringConstant({ value: key, node: keyNode }, 'dict key');
      const entry = object.entries.find((e) => e.key === name);
      if (!entry) throw this.#error(keyNode, `dict has no key '${name}'`);
      return entry.value.value;
    }
    let index = this.#intConstant({ value: key, node: keyNode }, 'index');
    if (index < 0) index += object.items.length;
    const item = object.items[index];
    if (!item) throw this.#error(keyNode, `index out of range (${describe(object)} has ${object.items.length} items)`);
    return item.value;
  }

  /** df.ctx['pod'] and friends: a look-up of the DataFrame's upid. */
  #context(frame: PlanNode, keyNode: SyntaxNode): Value {
    const key = this.#stringConstant({ value: this.#evaluate(keyNode), node: keyNode }, 'ctx key');
    const fnName = CONTEXT_FUNCTIONS[key];
    if (!fnName) throw this.#error(keyNode, `unknown ctx key '${key}' (known: ${Object.keys(CONTEXT_FUNCTIONS).join(', ')})`);
    const upid = frame.columns.find((c) => c.name === 'upid');
    if (!upid) throw this.#error(keyNode, `ctx['${key}'] needs the upid column, which this DataFrame lacks`);
    const fn = SCALAR_FUNCTIONS.get(fnName) as ScalarFunction;
    return this.#callScalar(fn, fnName, { node: keyNode, positional: [{ value: { kind: 'expr', expr: columnRef(upid) }, node: keyNode }], keywords: new Map() });
  }

  /** groupby(…).agg(out=('column', px.fn), …); agg() without arguments gives the distinct groups. */
  #aggregate(frame: PlanNode, groups: readonly string[], site: CallSite): Value {
    if (site.positional.length > 0) throw this.#error((site.positional[0] as Located).node, "agg takes keyword arguments only: agg(name=('column', px.fn))");
    const aggregates: AggregateSpec[] = [];
    const columns: PlanColumn[] = groups.map((g) => frame.columns.find((c) => c.name === g) as PlanColumn);
    for (const [name, arg] of site.keywords) {
      const at = arg.keywordNode ?? arg.node;
      if (groups.includes(name)) throw this.#error(at, `agg: output '${name}' is also a group column`);
      const { value } = arg;
      if (value.kind !== 'list' || value.items.length !== 2) throw this.#error(arg.node, `agg: expected ('column', px.fn), got ${describe(value)}`);
      const [columnItem, fnItem] = value.items as [Located, Located];
      const column = this.#column(frame, this.#columnName(columnItem), columnItem.node);
      if (fnItem.value.kind !== 'aggregate') throw this.#error(fnItem.node, `agg: expected an aggregate function (px.count, px.sum, px.mean, px.min, px.max, px.any, px.quantiles), got ${describe(fnItem.value)}`);
      const fn = fnItem.value.fn;
      if (!aggregateAccepts(fn, column.type)) throw this.#error(columnItem.node, `agg: px.${fn} does not take a ${column.type} column`);
      const spec: AggregateSpec = { name, fn, column: (column as { name: string }).name, inputType: column.type };
      aggregates.push(spec);
      columns.push({ name, type: aggregateResultType(spec) });
    }
    return { kind: 'dataframe', node: { op: 'aggregate', input: frame, mode: 'full', groups, aggregates, columns } };
  }

  /** Column names given as one string or a list of strings. */
  #columnNames(arg: Located, frame: PlanNode, what: string): string[] {
    const items = arg.value.kind === 'list' ? arg.value.items : [arg];
    if (items.length === 0) throw this.#error(arg.node, `${what}: give at least one column`);
    return items.map((item) => {
      const name = this.#columnName(item);
      this.#column(frame, name, item.node);
      return name;
    });
  }

  /** df.merge(right, how, left_on, right_on, suffixes). */
  #merge(left: PlanNode, site: CallSite): Value {
    const args = this.#bind(site, 'merge', ['right', 'how', 'left_on', 'right_on', 'suffixes'], 1);
    const rightArg = args.get('right') as Located;
    if (rightArg.value.kind !== 'dataframe') throw this.#error(rightArg.node, `merge: expected a DataFrame, got ${describe(rightArg.value)}`);
    const right = rightArg.value.node;
    const howArg = args.get('how');
    const how = howArg ? this.#stringConstant(howArg, 'merge: how') : 'inner';
    if (!JOIN_KINDS.has(how)) throw this.#error((howArg as Located).node, `merge: how must be inner, left, right or outer, got '${how}'`);
    const leftOnArg = args.get('left_on');
    const rightOnArg = args.get('right_on');
    if (!leftOnArg || !rightOnArg) throw this.#error(site.node, 'merge: give left_on and right_on');
    const leftOn = this.#columnNames(leftOnArg, left, 'merge: left_on');
    const rightOn = this.#columnNames(rightOnArg, right, 'merge: right_on');
    if (leftOn.length !== rightOn.length) throw this.#error(rightOnArg.node, `merge: left_on has ${leftOn.length} columns, right_on ${rightOn.length}`);
    leftOn.forEach((l, i) => {
      const lt = (left.columns.find((c) => c.name === l) as PlanColumn).type;
      const rt = (right.columns.find((c) => c.name === rightOn[i]) as PlanColumn).type;
      const stringy = (t: string): boolean => t === 'string' || t === 'uint128';
      if (lt !== rt && !(stringy(lt) && stringy(rt))) throw this.#error(rightOnArg.node, `merge: key '${l}' (${lt}) and '${rightOn[i]}' (${rt}) have different types`);
    });
    let suffixes = ['_x', '_y'];
    const suffixArg = args.get('suffixes');
    if (suffixArg) {
      if (suffixArg.value.kind !== 'list' || suffixArg.value.items.length !== 2) throw this.#error(suffixArg.node, 'merge: suffixes must be two strings');
      suffixes = suffixArg.value.items.map((item) => this.#stringConstant(item, 'merge: suffix'));
    }
    const leftNames = new Set(left.columns.map((c) => c.name));
    const rightNames = new Set(right.columns.map((c) => c.name));
    const outputs: JoinOutput[] = [];
    const columns: PlanColumn[] = [];
    const seen = new Set<string>();
    const add = (side: 'left' | 'right', column: PlanColumn, clash: boolean): void => {
      const name = clash ? `${column.name}${side === 'left' ? suffixes[0] : suffixes[1]}` : column.name;
      if (seen.has(name)) throw this.#error(site.node, `merge: output column '${name}' appears twice (choose other suffixes)`);
      seen.add(name);
      outputs.push({ side, column: column.name });
      columns.push(planColumn(name, column.type, column.dictionary === true));
    };
    for (const column of left.columns) add('left', column, rightNames.has(column.name));
    for (const column of right.columns) add('right', column, leftNames.has(column.name));
    const join: JoinNode = { op: 'join', left, right, how: how as JoinNode['how'], leftOn, rightOn, outputs, columns };
    return { kind: 'dataframe', node: join };
  }

  /** df.append(other) or df.append([a, b]): rows of df, then of the others (same columns). */
  #append(frame: PlanNode, site: CallSite): Value {
    const args = this.#bind(site, 'append', ['objs'], 1);
    const arg = args.get('objs') as Located;
    const items = arg.value.kind === 'list' ? arg.value.items : [arg];
    const inputs: PlanNode[] = [frame];
    for (const item of items) {
      if (item.value.kind !== 'dataframe') throw this.#error(item.node, `append: expected a DataFrame, got ${describe(item.value)}`);
      const other = item.value.node;
      const same = other.columns.length === frame.columns.length
        && frame.columns.every((c) => other.columns.some((o) => o.name === c.name && o.type === c.type));
      if (!same) throw this.#error(item.node, `append: DataFrames must have the same columns (${listNames(frame.columns.map((c) => c.name))} vs ${listNames(other.columns.map((c) => c.name))})`);
      inputs.push(other);
    }
    const columns = frame.columns.map((c) => planColumn(c.name, c.type, inputs.every((i) => i.columns.find((o) => o.name === c.name)?.dictionary === true)));
    return { kind: 'dataframe', node: { op: 'union', inputs, columns } };
  }

  #dataFrame(site: CallSite): Value {
    const args = this.#bind(site, 'px.DataFrame', ['table', 'select', 'start_time', 'end_time'], 1);
    const tableArg = args.get('table') as Located;
    const tableName = this.#stringConstant(tableArg, 'px.DataFrame: table');
    const table = this.#catalog.getTable(tableName);
    if (!table) throw this.#error(tableArg.node, `unknown table '${tableName}'`);
    let columns: PlanColumn[] = table.columns.map((c) => planColumn(c.name, c.type, c.dictionary === true));
    const select = args.get('select');
    if (select && select.value.kind !== 'none') {
      if (select.value.kind !== 'list') throw this.#error(select.node, `px.DataFrame: select must be a list of column names, got ${describe(select.value)}`);
      if (select.value.items.length > 0) {
        columns = select.value.items.map((item) => {
          const name = this.#columnName(item);
          const column = columns.find((c) => c.name === name);
          if (!column) throw this.#error(item.node, `unknown column '${name}' in table ${tableName}`);
          return column;
        });
      }
    }
    const startNs = this.#time(args.get('start_time'), 0n);
    const endNs = this.#time(args.get('end_time'), this.#nowNs);
    if (startNs > endNs) throw this.#error(args.get('start_time')?.node ?? site.node, 'px.DataFrame: start_time is after end_time');
    return { kind: 'dataframe', node: { op: 'memorySource', table: tableName, startNs: startNs.toString(), endNs: endNs.toString(), columns } };
  }

  /** A time argument: "-5m" style relative text, RFC 3339 text, int ns, or a time64ns constant (px.now() - px.minutes(5)). */
  #time(arg: Located | undefined, fallback: bigint): bigint {
    if (!arg || arg.value.kind === 'none') return fallback;
    const { value } = arg;
    if (value.kind === 'expr' && value.expr.kind === 'literal') {
      const { type, value: constant } = value.expr;
      if (type === 'int64' || type === 'time64ns') return BigInt(constant as string);
      if (type === 'string') {
        const ns = parseTimeText(constant as string, this.#nowNs);
        if (ns === undefined) throw this.#error(arg.node, `invalid time '${constant as string}' (use a relative time such as '-5m' or '-2h30m', or RFC 3339 such as '2026-01-02T15:04:05Z')`);
        return ns;
      }
    }
    throw this.#error(arg.node, `expected a time (string, int ns or px.now() expression), got ${describe(value)}`);
  }

  #display(site: CallSite): Value {
    const args = this.#bind(site, 'px.display', ['out', 'name'], 1);
    const frameArg = args.get('out') as Located;
    if (frameArg.value.kind !== 'dataframe') throw this.#error(frameArg.node, `px.display: expected a DataFrame, got ${describe(frameArg.value)}`);
    const nameArg = args.get('name');
    const name = nameArg ? this.#stringConstant(nameArg, 'px.display: name') : DEFAULT_OUTPUT_NAME;
    if (this.#outputs.some((o) => o.name === name)) throw this.#error(nameArg?.node ?? site.node, `px.display: output name '${name}' is used twice`);
    const input = frameArg.value.node;
    this.#outputs.push({ name, plan: { op: 'sink', input, name, columns: input.columns } });
    return NONE;
  }

  #dataFrameMethod(frame: PlanNode, name: string): Value | undefined {
    switch (name) {
      case 'head': return {
        kind: 'callable', name: 'head', call: (site) => {
          const args = this.#bind(site, 'head', ['n'], 0);
          const nArg = args.get('n');
          const n = nArg ? this.#intConstant(nArg, 'head: n') : DEFAULT_HEAD_ROWS;
          if (n < 0 || n > Number.MAX_SAFE_INTEGER) throw this.#error((nArg as Located).node, `head: n must be >= 0, got ${n}`);
          return { kind: 'dataframe', node: { op: 'limit', input: frame, n, columns: frame.columns } };
        },
      };
      case 'drop': return {
        kind: 'callable', name: 'drop', call: (site) => {
          const args = this.#bind(site, 'drop', ['columns'], 1);
          const arg = args.get('columns') as Located;
          const items = arg.value.kind === 'list' ? arg.value.items : [arg];
          const dropped = new Set<string>();
          for (const item of items) {
            const column = this.#columnName(item);
            this.#column(frame, column, item.node);
            dropped.add(column);
          }
          const kept = frame.columns.filter((c) => !dropped.has(c.name));
          if (kept.length === 0) throw this.#error(arg.node, 'drop: cannot drop every column');
          return { kind: 'dataframe', node: mapNode(frame, kept.map((c) => ({ name: c.name, expr: columnRef(c) }))) };
        },
      };
      case 'groupby': return {
        kind: 'callable', name: 'groupby', call: (site) => {
          const args = this.#bind(site, 'groupby', ['by'], 1);
          return { kind: 'grouped', node: frame, groups: this.#columnNames(args.get('by') as Located, frame, 'groupby') };
        },
      };
      case 'agg': return { kind: 'callable', name: 'agg', call: (site) => this.#aggregate(frame, [], site) };
      case 'merge': return { kind: 'callable', name: 'merge', call: (site) => this.#merge(frame, site) };
      case 'append': return { kind: 'callable', name: 'append', call: (site) => this.#append(frame, site) };
      default: return undefined;
    }
  }

  #stringConstant(arg: Located, what: string): string {
    const { value } = arg;
    if (value.kind === 'expr' && value.expr.kind === 'literal' && value.expr.type === 'string') return value.expr.value as string;
    throw this.#error(arg.node, `${what} must be a string, got ${describe(value)}`);
  }

  #intConstant(arg: Located, what: string): number {
    const { value } = arg;
    if (value.kind === 'expr' && value.expr.kind === 'literal' && value.expr.type === 'int64') return Number(value.expr.value);
    throw this.#error(arg.node, `${what} must be an int, got ${describe(value)}`);
  }
}

/** Python string escapes. */
function unescape(body: string): string {
  return body.replace(/\\(?:x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|([0-7]{1,3})|(\r?\n)|(.))/gs,
    (whole, hex?: string, u4?: string, u8?: string, octal?: string, newline?: string, other?: string) => {
      const code = hex ?? u4 ?? u8;
      if (code !== undefined) return String.fromCodePoint(parseInt(code, 16));
      if (octal !== undefined) return String.fromCodePoint(parseInt(octal, 8));
      if (newline !== undefined) return '';
      const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', v: '\v' };
      return simple[other ?? ''] ?? whole;
    });
}

function listNames(names: readonly string[]): string {
  const shown = names.slice(0, 12).join(', ');
  return names.length > 12 ? `${shown}, … (${names.length} columns)` : shown;
}

function planColumn(name: string, type: ColumnType, dictionary: boolean): PlanColumn {
  return dictionary ? { name, type, dictionary } : { name, type };
}

function columnRef(column: PlanColumn): ScalarExpr {
  return { kind: 'column', name: column.name, type: column.type };
}

function mapNode(input: PlanNode, assignments: readonly { name: string; expr: ScalarExpr }[]): PlanNode {
  const columns = assignments.map((a): PlanColumn => {
    // A pass-through column keeps its encoding; computed strings are plain.
    if (a.expr.kind === 'column') {
      const source = input.columns.find((c) => c.name === (a.expr as { name: string }).name);
      if (source) return planColumn(a.name, source.type, source.dictionary === true);
    }
    return planColumn(a.name, a.expr.type, false);
  });
  return { op: 'map', input, assignments, columns };
}

/** Replaces a call whose arguments are all literals by its value (unless the value is not JSON-safe). */
function fold(expr: ScalarExpr): ScalarExpr {
  if (expr.kind !== 'call' || !expr.args.every((a) => a.kind === 'literal')) return expr;
  if (SCALAR_FUNCTIONS.get(expr.fn)?.volatile === true) return expr;
  const value = evaluateConstant(expr);
  if (typeof value.value === 'number' && !Number.isFinite(value.value)) return expr;
  return value;
}

/**
 * Compiles a PxL script into its outputs' plans (see plan.ts). Throws
 * QueryError (with 1-based line and column) for any error in the script.
 */
export function compileScript(source: string, catalog: TableCatalog, options: CompileOptions = {}): CompiledQuery {
  const nowNs = options.nowNs ?? BigInt(Date.now()) * 1_000_000n;
  const script = parseScript(source);
  const settings = readPragmas(script);
  const outputs: CompiledOutput[] = new Compiler(script, catalog, nowNs).compile().map(({ plan }) => planOutput(plan));
  return settings ? { planVersion: 1, outputs, settings } : { planVersion: 1, outputs };
}

/** `#px:set key=value` comments (Pixie's pragmas); unknown keys are ignored, as Pixie does. */
function readPragmas(script: ParsedScript): QuerySettings | undefined {
  let maxOutputRowsPerTable: number | undefined;
  script.tree.iterate({
    enter: (node) => {
      if (node.name !== 'Comment') return;
      const text = script.source.slice(node.from, node.to);
      const match = /^#\s*px:set\s+(.*)$/.exec(text);
      if (!match) return;
      for (const setting of (match[1] as string).split(/[\s,]+/)) {
        const [key, value] = setting.split('=');
        if (key !== 'max_output_rows_per_table') continue;
        if (value === undefined || !/^\d+$/.test(value)) throw new QueryError(`#px:set max_output_rows_per_table: expected a non-negative int, got '${value ?? ''}'`, script.positions.at(node.from));
        maxOutputRowsPerTable = Number(value);
      }
    },
  });
  return maxOutputRowsPerTable === undefined ? undefined : { maxOutputRowsPerTable };
}
