// Checks a value against a rendered CRD schema the way the API server would,
// without one: the OpenAPI subset our schemas use (type, enum, pattern,
// bounds, required, items, additionalProperties, int-or-string) and, when
// asked, the CEL rules (x-kubernetes-validations), evaluated with a real CEL
// interpreter. `wisp agent --standalone --config` validates its documents
// with it, so one host refuses exactly what a cluster's API server refuses.
//
// Error texts imitate the API server's ("<path> in body should match ...")
// so the `# expect:` lines of config/samples/invalid can be checked offline.
// Like the API server, CEL rules run only when the structure is valid.
import { parse, type ParseResult } from '@marcbachmann/cel-js';
import type { CelRule, OpenApiSchema } from './schema.builder.ts';

export interface ValidateOptions {
  /** Evaluate x-kubernetes-validations (default true). */
  readonly cel?: boolean;
}

/** Every violation of `schema` by `value`, one line each, each naming its field (under `path`). */
export function validateAgainstSchema(schema: OpenApiSchema, value: unknown, path: string, options: ValidateOptions = {}): string[] {
  const errors: string[] = [];
  walk(schema, value, path, errors);
  if (errors.length === 0 && options.cel !== false) walkRules(schema, value, path, errors);
  return errors;
}

/** The structural checks alone (no CEL). */
export function checkSchema(schema: OpenApiSchema, value: unknown, path: string): string[] {
  return validateAgainstSchema(schema, value, path, { cel: false });
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function walk(schema: OpenApiSchema, value: unknown, path: string, errors: string[]): void {
  const actual = typeOf(value);
  if (schema['x-kubernetes-int-or-string']) {
    if (actual !== 'integer' && actual !== 'string') errors.push(`${path}: Invalid value: "${actual}": ${path} in body must be of type integer or string`);
  } else if (schema['type'] !== undefined && schema['type'] !== actual && !(schema['type'] === 'number' && actual === 'integer')) {
    errors.push(`${path}: Invalid value: "${actual}": ${path} in body must be of type ${String(schema['type'])}: "${actual}"`);
    return;
  }
  const en = schema['enum'] as unknown[] | undefined;
  if (en && !en.includes(value)) errors.push(`${path}: Unsupported value: ${JSON.stringify(value)}`);
  if (typeof value === 'string') {
    const pattern = schema['pattern'] as string | undefined;
    if (pattern && !new RegExp(pattern, 'u').test(value)) errors.push(`${path}: Invalid value: ${JSON.stringify(value)}: ${path} in body should match '${pattern}'`);
    const maxLength = schema['maxLength'] as number | undefined;
    if (maxLength !== undefined && value.length > maxLength) errors.push(`${path}: Too long: may not be more than ${maxLength} bytes`);
    const minLength = schema['minLength'] as number | undefined;
    if (minLength !== undefined && value.length < minLength) errors.push(`${path}: Invalid value: ${JSON.stringify(value)}: ${path} in body should be at least ${minLength} chars long`);
  }
  if (typeof value === 'number') {
    const min = schema['minimum'] as number | undefined;
    const max = schema['maximum'] as number | undefined;
    if (min !== undefined && value < min) errors.push(`${path}: Invalid value: ${value}: ${path} in body should be greater than or equal to ${min}`);
    if (max !== undefined && value > max) errors.push(`${path}: Invalid value: ${value}: ${path} in body should be less than or equal to ${max}`);
  }
  if (Array.isArray(value)) {
    const minItems = schema['minItems'] as number | undefined;
    const maxItems = schema['maxItems'] as number | undefined;
    if (minItems !== undefined && value.length < minItems) errors.push(`${path}: Invalid value: ${value.length}: ${path} in body should have at least ${minItems} items`);
    if (maxItems !== undefined && value.length > maxItems) errors.push(`${path}: Too many: ${value.length}: must have at most ${maxItems} items`);
    const items = schema['items'] as OpenApiSchema | undefined;
    if (items) value.forEach((item, i) => walk(items, item, `${path}[${i}]`, errors));
  }
  if (actual === 'object') {
    const object = value as Record<string, unknown>;
    for (const key of (schema['required'] as string[] | undefined) ?? []) {
      if (!(key in object)) errors.push(`${path}.${key}: Required value`);
    }
    const minProperties = schema['minProperties'] as number | undefined;
    const maxProperties = schema['maxProperties'] as number | undefined;
    const count = Object.keys(object).length;
    if (minProperties !== undefined && count < minProperties) errors.push(`${path}: Invalid value: ${count}: ${path} in body should have at least ${minProperties} properties`);
    if (maxProperties !== undefined && count > maxProperties) errors.push(`${path}: Too many: ${count}: must have at most ${maxProperties} properties`);
    const properties = schema['properties'] as Record<string, OpenApiSchema> | undefined;
    const additional = schema['additionalProperties'] as OpenApiSchema | undefined;
    for (const [key, child] of Object.entries(object)) {
      const childSchema = properties?.[key] ?? additional;
      if (childSchema) walk(childSchema, child, `${path}.${key}`, errors);
      else if (properties && !schema['x-kubernetes-preserve-unknown-fields']) errors.push(`${path}: unknown field "${key}"`);
    }
  }
}

const compiledRules = new Map<string, ParseResult>();

function compileRule(rule: string): ParseResult {
  let compiled = compiledRules.get(rule);
  if (!compiled) {
    compiled = parse(rule);
    compiledRules.set(rule, compiled);
  }
  return compiled;
}

/** CEL's view of JSON: integers are CEL ints (as the API server types integer fields). */
function celValue(value: unknown): unknown {
  if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(celValue);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, celValue(v)]));
  return value;
}

function walkRules(schema: OpenApiSchema, value: unknown, path: string, errors: string[]): void {
  if (value === undefined || value === null) return;
  for (const rule of (schema['x-kubernetes-validations'] as CelRule[] | undefined) ?? []) {
    let ok: unknown;
    try {
      ok = compileRule(rule.rule)({ self: celValue(value) });
    } catch (error) {
      errors.push(`${path}: Invalid value: evaluate rule ${JSON.stringify(rule.rule)}: ${(error as Error).message.split('\n')[0]}`);
      continue;
    }
    if (ok !== true) errors.push(`${path}${rule.fieldPath ?? ''}: Invalid value: "${typeOf(value)}": ${rule.message}`);
  }
  if (Array.isArray(value)) {
    const items = schema['items'] as OpenApiSchema | undefined;
    if (items) value.forEach((item, i) => walkRules(items, item, `${path}[${i}]`, errors));
  } else if (typeof value === 'object') {
    const properties = schema['properties'] as Record<string, OpenApiSchema> | undefined;
    const additional = schema['additionalProperties'] as OpenApiSchema | undefined;
    for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
      const childSchema = properties?.[key] ?? additional;
      if (childSchema) walkRules(childSchema, child, `${path}.${key}`, errors);
    }
  }
}
