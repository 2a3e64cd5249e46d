// A small checker of the OpenAPI subset our schemas use (type, enum, pattern,
// bounds, required, items, additionalProperties, int-or-string), for unit
// tests that run without an API server. CEL rules are NOT evaluated here: the
// test against the real API server (test/crds.test.ts) covers them. Error
// texts imitate the API server's ("<path> in body should match ...") so the
// `# expect:` lines of config/samples/invalid can be checked offline too.
import type { OpenApiSchema } from './schema.builder.ts';

export function checkSchema(schema: OpenApiSchema, value: unknown, path: string): string[] {
  const errors: string[] = [];
  walk(schema, value, path, errors);
  return errors;
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
    const properties = schema['properties'] as Record<string, OpenApiSchema> | undefined;
    const additional = schema['additionalProperties'] as OpenApiSchema | undefined;
    for (const [key, child] of Object.entries(object)) {
      const childSchema = properties?.[key] ?? additional;
      if (childSchema) walk(childSchema, child, `${path}.${key}`, errors);
      else if (properties && !schema['x-kubernetes-preserve-unknown-fields']) errors.push(`${path}: unknown field "${key}"`);
    }
  }
}
