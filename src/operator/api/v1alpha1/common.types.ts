// Types shared by every wisp.dev/v1alpha1 kind: identity, conditions, label
// selectors, tolerations, Secret references. Each schema mirrors the upstream
// Kubernetes type it names (metav1.Condition, metav1.LabelSelector,
// corev1.Toleration) so tools that know those shapes read ours.
import type { V1ObjectMeta } from '@kubernetes/client-node';
import { DNS_SUBDOMAIN_PATTERN, s, type Infer } from '../schema.builder.ts';

export const GROUP = 'wisp.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** What a kind is called, for the CRD and for clients. */
export interface KindNames {
  readonly group: typeof GROUP;
  readonly version: typeof VERSION;
  readonly kind: string;
  readonly plural: string;
  readonly singular: string;
  readonly shortNames: readonly string[];
  readonly scope: 'Cluster' | 'Namespaced';
}

/** A custom resource as the API server returns it (status absent until the operator writes it). */
export interface Resource<Kind extends string, Spec, Status> {
  apiVersion: typeof API_VERSION;
  kind: Kind;
  metadata: V1ObjectMeta;
  spec: Spec;
  status?: Status;
}

/** One problem found by a pure validator: what is wrong, where, and how to fix it. */
export interface Problem {
  /** Field path from the object root, e.g. `spec.rollups[0].from`. */
  readonly field: string;
  /** CamelCase reason, usable as a condition reason (`UnknownTable`). */
  readonly reason: string;
  /** One sentence saying what to fix. */
  readonly message: string;
}

/**
 * Tables the agents define themselves (DESIGN.md §3), including those still to
 * come: a Tracepoint may not take these names. Twin: src/tables/index.ts
 * (builtinTables); api.test.ts checks every built-in table is listed here.
 */
export const RESERVED_TABLE_NAMES = Object.freeze([
  'http_events', 'pgsql_events', 'mysql_events', 'redis_events', 'dns_events', 'kafka_events', 'cql_events',
  'amqp_events', 'mongodb_events', 'nats_events', 'conn_stats', 'process_stats', 'network_stats', 'proc_exit_events',
] as const);

/** Condition status values, as metav1.Condition spells them. */
export const ConditionStatus = Object.freeze({ True: 'True', False: 'False', Unknown: 'Unknown' } as const);

export const condition = s.object({
  type: s.string({
    description: 'Type of condition in CamelCase (Ready, plus kind-specific ones).',
    pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$',
    maxLength: 316,
  }).required(),
  status: s.enum(['True', 'False', 'Unknown'] as const, { description: 'Status of the condition: True, False or Unknown.' }).required(),
  observedGeneration: s.integer({
    description: 'The .metadata.generation the condition was set from; older than the object\'s generation means stale.',
    minimum: 0,
  }),
  lastTransitionTime: s.dateTime({ description: 'When the condition last changed status.' }).required(),
  reason: s.string({
    description: 'Machine-readable CamelCase reason for the last transition (e.g. SecretNotFound).',
    pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$', minLength: 1, maxLength: 1024,
  }).required(),
  message: s.string({ description: 'Human-readable message: what happened and what to fix.', maxLength: 32768 }).required(),
}, { description: 'One aspect of the object\'s current state (metav1.Condition).' });
export type Condition = Infer<typeof condition>;

export const conditions = s.array(condition, {
  description: 'Latest observations of the object\'s state. Ready summarizes them all.',
  listType: 'map', mapKeys: ['type'], maxItems: 16,
});

export const observedGeneration = s.integer({
  description: 'The .metadata.generation the operator last reconciled.',
  minimum: 0,
});

const labelValue = s.string({
  description: 'A label value: up to 63 characters, alphanumeric at both ends, with -_. inside.',
  pattern: '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$', maxLength: 63,
});

/** metav1.LabelSelector. Key syntax is checked by the operator (validateLabelSelector). */
export const labelSelector = s.object({
  matchLabels: s.map(labelValue, {
    description: 'Labels an object must carry, key to exact value; ANDed with matchExpressions.',
    maxProperties: 64,
  }),
  matchExpressions: s.array(s.object({
    key: s.string({ description: 'Label key the requirement applies to.', minLength: 1, maxLength: 317 }).required(),
    operator: s.enum(['In', 'NotIn', 'Exists', 'DoesNotExist'] as const, {
      description: 'How the key relates to values: In, NotIn, Exists or DoesNotExist.',
    }).required(),
    values: s.array(labelValue, {
      description: 'Values for In and NotIn (at least one); empty for Exists and DoesNotExist.',
      maxItems: 64, listType: 'atomic',
    }),
  }, { description: 'A label requirement.' }).validate(
    {
      rule: "self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : !has(self.values) || size(self.values) == 0",
      message: 'In and NotIn need at least one value; Exists and DoesNotExist take none',
      fieldPath: '.values',
    },
  ), {
    description: 'Label requirements, ANDed.',
    maxItems: 16, listType: 'atomic',
  }),
}, { description: 'Selects objects by label (metav1.LabelSelector). An empty selector selects every object.' });
export type LabelSelector = Infer<typeof labelSelector>;

/** corev1.Toleration. */
export const toleration = s.object({
  key: s.string({ description: 'Taint key the toleration applies to; empty with operator Exists matches every taint.', maxLength: 317 }),
  operator: s.enum(['Exists', 'Equal'] as const, { description: 'Exists or Equal (default Equal).' }),
  value: s.string({ description: 'Taint value the toleration matches with operator Equal.', maxLength: 63 }),
  effect: s.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const, {
    description: 'Taint effect to match; empty matches every effect.',
  }),
  tolerationSeconds: s.integer({
    description: 'With effect NoExecute: how long the pod stays bound after the taint appears; absent means forever.',
  }),
}, { description: 'Lets agent pods run on nodes with a matching taint (corev1.Toleration).' });
export type Toleration = Infer<typeof toleration>;

/** A Secret in the same namespace as the referring object. */
export const secretRef = s.object({
  name: s.string({
    description: 'Name of a Secret in the same namespace as this object.',
    pattern: DNS_SUBDOMAIN_PATTERN, minLength: 1, maxLength: 253,
  }).required(),
}, { description: 'Names a Secret in this object\'s namespace; the operator reports SecretNotFound while it is missing.' });
export type SecretRef = Infer<typeof secretRef>;

/** Status of a condition whose type is `type`, or undefined when it was never set. */
export function findCondition(list: readonly Condition[] | undefined, type: string): Condition | undefined {
  return list?.find((c) => c.type === type);
}
