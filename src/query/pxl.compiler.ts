// Compiles a PxL script: evaluates its module-level statements symbolically.
// Variables hold compile-time values (the px module, DataFrames bound to plan
// nodes, scalar expressions, constants, lists, callables); px.display calls
// become the outputs. Every refusal is a QueryError at the offending
// construct, raised before anything runs.
import type { SyntaxNode } from '@lezer/common';
import type { ColumnType, TableSpec } from '../tables/schema.ts';
import { evaluateConstant } from './expression.evaluator.ts';
import { PX_FUNCTIONS, SCALAR_FUNCTIONS, TO_FLOAT64, resolveOverload, type ScalarFunction } from './function.registry.ts';
import { planOutput } from './fragment.planner.ts';
import type { CompiledOutput, CompiledQuery, Literal, PlanColumn, PlanNode, ScalarExpr, SinkNode } from './plan.ts';
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
  | { readonly kind: 'callable'; readonly name: string; readonly call: (site: CallSite) => Value };

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
  readonly #scope = new Map<string, Value>();
  readonly #outputs: { name: string; plan: SinkNode }[] = [];

  constructor(script: ParsedScript, catalog: TableCatalog, nowNs: bigint) {
    this.#script = script;
    this.#catalog = catalog;
    this.#nowNs = nowNs;
  }

  compile(): { name: string; plan: SinkNode }[] {
    for (const statement of children(this.#script.tree.topNode)) {
      if (statement.name !== 'Comment') this.#checkIndent(statement);
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

  #statement(node: SyntaxNode): void {
    switch (node.name) {
      case 'Comment': return; // "#px:set" pragmas included: accepted, not applied yet.
      case 'ImportStatement': return this.#import(node);
      case 'AssignStatement': return this.#assign(node);
      case 'ExpressionStatement': {
        const [expression] = significantChildren(node);
        if (expression) this.#evaluate(expression);
        return;
      }
      default: {
        const word = STATEMENT_WORDS[node.name];
        throw this.#error(node, word ? `unsupported statement: ${word}` : `unsupported syntax: ${node.name}`);
      }
    }
  }

  #import(node: SyntaxNode): void {
    const parts = children(node);
    if (parts[0]?.name !== 'import') throw this.#error(node, 'unsupported statement: from … import (write "import px")');
    const names = parts.filter((p) => p.name === 'VariableName');
    const module = names[0];
    if (!module || names.length > 2 || parts.some((p) => p.name === ',')) throw this.#error(node, 'unsupported import: write "import px"');
    if (this.#text(module) !== 'px') throw this.#error(module, `unknown module '${this.#text(module)}' (only px can be imported)`);
    const alias = names[1] ?? module;
    this.#scope.set(this.#text(alias), { kind: 'module', name: 'px' });
  }

  #assign(node: SyntaxNode): void {
    const parts = children(node);
    const operators = parts.filter((p) => p.name === 'AssignOp');
    if (operators.length !== 1 || parts.length !== 3) throw this.#error(node, 'unsupported assignment: use one target per assignment');
    const [target, , valueNode] = parts as [SyntaxNode, SyntaxNode, SyntaxNode];
    if (target.name === 'VariableName') {
      this.#scope.set(this.#text(target), this.#evaluate(valueNode));
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
    this.#scope.set(this.#text(objectNode), { kind: 'dataframe', node: mapNode(frame.node, assignments) });
  }

  // --- expressions ------------------------------------------------------------------

  #lookup(node: SyntaxNode): Value {
    const name = this.#text(node);
    const value = this.#scope.get(name);
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
      case 'FormatString': throw this.#error(node, 'unsupported syntax: f-strings');
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
    if (lower.includes('f')) throw this.#error(node, 'unsupported syntax: f-strings');
    const quoted = text.slice(prefix.length);
    const quote = quoted.startsWith('"""') || quoted.startsWith("'''") ? quoted.slice(0, 3) : quoted.slice(0, 1);
    const body = quoted.slice(quote.length, quoted.length - quote.length);
    if (lower.includes('r')) return body;
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
    if (object.kind === 'dataframe') {
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
      case 'now': return {
        kind: 'callable', name: 'px.now', call: (site) => {
          this.#bind(site, 'px.now', [], 0);
          return { kind: 'expr', expr: literal('time64ns', this.#nowNs.toString()) };
        },
      };
      default: return undefined;
    }
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
  const outputs: CompiledOutput[] = new Compiler(script, catalog, nowNs).compile().map(({ plan }) => planOutput(plan));
  return { planVersion: 1, outputs };
}
