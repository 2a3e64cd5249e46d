// A small schema DSL: one declaration per field gives both the TypeScript type
// (through `Infer<typeof schema>`) and the OpenAPI v3 structural schema the
// CRD generator renders. TypeScript types are erased at run time, so the
// declaration is data with a phantom type parameter, not an interface.
//
// Contracts:
// - every field carries a description (the builders require one);
// - rendering is deterministic: keys come out in one fixed order and
//   properties in declaration order, so `make verify` can diff the output;
// - a field is optional in the TypeScript type unless declared `.required()`;
//   a default does not make it required there, because the operator also sees
//   objects whose parent was absent (defaults apply only under a present parent).

/** An OpenAPI v3 schema as the apiextensions.k8s.io/v1 API spells it. */
export type OpenApiSchema = { readonly [key: string]: unknown };

/** One CEL rule (`x-kubernetes-validations`), evaluated by the API server. */
export interface CelRule {
  readonly rule: string;
  readonly message: string;
  /** JSON path (from the node that holds the rule) of the field to blame in the error. */
  readonly fieldPath?: string;
  readonly reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

/**
 * A schema node. `T` is the TypeScript type of a value; `R` says whether the
 * field is required in its parent object. Both exist only at the type level.
 */
export interface Field<T, R extends boolean = false> {
  readonly openApi: OpenApiSchema;
  readonly isRequired: R;
  /** Mark the field required in its parent object. */
  required(): Field<T, true>;
  /** Add CEL rules evaluated with `self` bound to this value. */
  validate(...rules: CelRule[]): Field<T, R>;
  /** Phantom: never set at run time. */
  readonly __type?: T;
}

export type Infer<F> = F extends Field<infer T, boolean> ? T : never;

type Simplify<T> = { [K in keyof T]: T[K] } & {};
type Props = Readonly<Record<string, Field<unknown, boolean>>>;
type RequiredKeys<P extends Props> = { [K in keyof P]: P[K] extends Field<unknown, true> ? K : never }[keyof P];
type OptionalKeys<P extends Props> = Exclude<keyof P, RequiredKeys<P>>;
export type InferObject<P extends Props> = Simplify<
  { [K in RequiredKeys<P>]: Infer<P[K]> } & { [K in OptionalKeys<P>]?: Infer<P[K]> }
>;

/** Options every builder takes. */
interface Common<T> {
  /** What the field means, its unit and what happens when it is absent. */
  readonly description: string;
  readonly default?: T;
}

/**
 * Key order of a rendered schema node. Anything not listed sorts after these,
 * alphabetically, so new keywords cannot make the output depend on insertion.
 */
const KEY_ORDER = [
  'description', 'type', 'format', 'x-kubernetes-int-or-string', 'anyOf', 'enum', 'default',
  'pattern', 'minLength', 'maxLength', 'minimum', 'maximum', 'minItems', 'maxItems',
  'minProperties', 'maxProperties', 'properties', 'required', 'additionalProperties', 'items',
  'x-kubernetes-list-type', 'x-kubernetes-list-map-keys', 'x-kubernetes-map-type',
  'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-validations',
] as const;

function ordered(schema: Record<string, unknown>): OpenApiSchema {
  const rank = (key: string): number => {
    const i = (KEY_ORDER as readonly string[]).indexOf(key);
    return i < 0 ? KEY_ORDER.length : i;
  };
  const keys = Object.keys(schema).filter((k) => schema[k] !== undefined)
    .sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  return Object.freeze(Object.fromEntries(keys.map((k) => [k, schema[k]])));
}

function field<T, R extends boolean>(openApi: Record<string, unknown>, isRequired: R): Field<T, R> {
  const node: Field<T, R> = {
    openApi: ordered(openApi),
    isRequired,
    required: () => field<T, true>(openApi, true),
    validate: (...rules: CelRule[]) => field<T, R>({
      ...openApi,
      'x-kubernetes-validations': [...(openApi['x-kubernetes-validations'] as CelRule[] | undefined ?? []), ...rules]
        .map((r) => ordered({ rule: r.rule, message: r.message, fieldPath: r.fieldPath, reason: r.reason })),
    }, isRequired),
  };
  return Object.freeze(node);
}

function requireDescription(description: string): string {
  if (!description.trim()) throw new Error('declare schema field: description must not be empty');
  return description;
}

export interface StringOptions extends Common<string> {
  readonly pattern?: string;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly format?: string;
}

export interface NumberOptions extends Common<number> {
  readonly minimum?: number;
  readonly maximum?: number;
  readonly format?: 'int32' | 'int64' | 'double';
}

export interface ArrayOptions<T> extends Common<T[]> {
  readonly minItems?: number;
  readonly maxItems?: number;
  /** `set`: items unique; `map`: items are objects unique by `mapKeys`; `atomic`: replaced whole by SSA. */
  readonly listType?: 'atomic' | 'set' | 'map';
  readonly mapKeys?: readonly string[];
}

export interface ObjectOptions<T> extends Common<T> {
  readonly minProperties?: number;
  readonly maxProperties?: number;
}

/** Non-negative Kubernetes quantity as a string (`256Mi`, `1G`, `1.5Gi`) or an integer. */
export const QUANTITY_PATTERN = '^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$';
/** Go-style duration extended with days: `500ms`, `1m30s`, `7d`. */
export const DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h|d))+$';
/** A DNS-1123 label: namespace and most object names. */
export const DNS_LABEL_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
/** A DNS-1123 subdomain: Secret and other object names. */
export const DNS_SUBDOMAIN_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** A table or column name: what PxL scripts can spell without quoting. */
export const IDENTIFIER_PATTERN = '^[a-z_][a-z0-9_]*$';

export const s = Object.freeze({
  string(options: StringOptions): Field<string> {
    return field({
      description: requireDescription(options.description), type: 'string', format: options.format,
      default: options.default, pattern: options.pattern, minLength: options.minLength, maxLength: options.maxLength,
    }, false);
  },

  enum<const V extends readonly string[]>(values: V, options: Common<V[number]>): Field<V[number]> {
    return field({ description: requireDescription(options.description), type: 'string', enum: [...values], default: options.default }, false);
  },

  integer(options: NumberOptions): Field<number> {
    return field({
      description: requireDescription(options.description), type: 'integer', format: options.format ?? 'int64',
      default: options.default, minimum: options.minimum, maximum: options.maximum,
    }, false);
  },

  boolean(options: Common<boolean>): Field<boolean> {
    return field({ description: requireDescription(options.description), type: 'boolean', default: options.default }, false);
  },

  /** RFC 3339 timestamp, as the API server stores `metav1.Time`. */
  dateTime(options: Common<string>): Field<string> {
    return field({ description: requireDescription(options.description), type: 'string', format: 'date-time', default: options.default }, false);
  },

  /** A byte quantity: `x-kubernetes-int-or-string` so both `1024` and `256Mi` are accepted; negatives are refused. */
  quantity(options: Common<string | number> & { readonly maxLength?: number }): Field<string | number> {
    return field({
      description: requireDescription(options.description), 'x-kubernetes-int-or-string': true,
      anyOf: [{ type: 'integer' }, { type: 'string' }], default: options.default,
      pattern: QUANTITY_PATTERN, minimum: 0, maxLength: options.maxLength ?? 32,
    }, false);
  },

  /** A duration string (`10s`, `1m30s`, `7d`). */
  duration(options: Common<string>): Field<string> {
    return field({
      description: requireDescription(options.description), type: 'string', default: options.default,
      pattern: DURATION_PATTERN, maxLength: 32,
    }, false);
  },

  array<T>(items: Field<T, boolean>, options: ArrayOptions<T>): Field<T[]> {
    return field({
      description: requireDescription(options.description), type: 'array', default: options.default,
      minItems: options.minItems, maxItems: options.maxItems, items: items.openApi,
      'x-kubernetes-list-type': options.listType,
      'x-kubernetes-list-map-keys': options.mapKeys ? [...options.mapKeys] : undefined,
    }, false);
  },

  object<const P extends Props>(properties: P, options: ObjectOptions<InferObject<P>>): Field<InferObject<P>> {
    const required = Object.keys(properties).filter((k) => properties[k]?.isRequired);
    return field({
      description: requireDescription(options.description), type: 'object', default: options.default,
      minProperties: options.minProperties, maxProperties: options.maxProperties,
      properties: Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, v.openApi])),
      required: required.length ? required : undefined,
    }, false);
  },

  /** A map from string keys to `values` (`additionalProperties`). */
  map<T>(values: Field<T, boolean>, options: ObjectOptions<Record<string, T>> & { readonly mapType?: 'atomic' | 'granular' }): Field<Record<string, T>> {
    return field({
      description: requireDescription(options.description), type: 'object', default: options.default,
      minProperties: options.minProperties, maxProperties: options.maxProperties,
      additionalProperties: values.openApi, 'x-kubernetes-map-type': options.mapType,
    }, false);
  },
});
