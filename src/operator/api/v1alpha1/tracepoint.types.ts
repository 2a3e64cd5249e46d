// Tracepoint (namespaced): dynamic user-space probes (uprobes) on processes of
// the selected pods in the Tracepoint's namespace; each writes rows to its own
// table (upid, time_, one column per captured value).
import { IDENTIFIER_PATTERN, s, type Infer } from '../schema.builder.ts';
import {
  conditions, GROUP, labelSelector, observedGeneration, RESERVED_TABLE_NAMES, VERSION,
  type KindNames, type Problem, type Resource,
} from './common.types.ts';
import { validateDuration, validateLabelSelector } from './validation.ts';

export const TRACEPOINT: KindNames = Object.freeze({
  group: GROUP, version: VERSION, kind: 'Tracepoint', plural: 'tracepoints', singular: 'tracepoint',
  shortNames: Object.freeze(['wtp']), scope: 'Namespaced',
});

export const TracepointConditions = Object.freeze({
  Ready: 'Ready',
  /** At least one selected process has every probe attached. */
  Attached: 'Attached',
} as const);

/** Outcome of a Tracepoint on one node. */
export const AttachState = Object.freeze({
  Attached: 'Attached',
  /** No matching process runs on the node: nothing to do, not an error. */
  Skipped: 'Skipped',
  Failed: 'Failed',
} as const);

const capture = s.object({
  name: s.string({
    description: 'Column name in the output table.', pattern: IDENTIFIER_PATTERN, minLength: 1, maxLength: 63,
  }).required(),
  expr: s.string({
    description: 'What to read, as the language spells it: an argument path (c.Items.len) or $0.. for return values.',
    minLength: 1, maxLength: 256,
  }).required(),
}, { description: 'A value captured into one column.' });

const captures = (what: string) => s.array(capture, {
  description: `${what} captured on each call, one column each.`,
  maxItems: 16, listType: 'map', mapKeys: ['name'],
});

export const probe = s.object({
  function: s.string({
    description: 'Symbol of the function to probe, as the language spells it (main.(*Cart).Total).',
    minLength: 1, maxLength: 512,
  }).required(),
  args: captures('Arguments'),
  returnValues: captures('Return values'),
  latency: s.boolean({ description: 'Also record the call latency in ns (column latency).', default: false }),
}, { description: 'One function probe.' }).validate({
  rule: '!has(self.args) || !has(self.returnValues) || !self.args.exists(a, self.returnValues.exists(r, r.name == a.name))',
  message: 'argument and return value names share the table\'s columns and must differ',
  fieldPath: '.returnValues',
}, {
  rule: '!has(self.latency) || !self.latency || ((!has(self.args) || !self.args.exists(a, a.name == \'latency\')) && (!has(self.returnValues) || !self.returnValues.exists(r, r.name == \'latency\')))',
  message: 'latency: true adds a column named latency; rename the capture called latency',
});

export const tracepointSpec = s.object({
  target: s.object({
    selector: labelSelector.required(),
    container: s.string({
      description: 'Container name within the selected pods. Absent: every container.', maxLength: 63,
    }),
    process: s.string({
      description: 'Regular expression (RE2) on the executable path of the processes to probe. Absent: every process.',
      maxLength: 256,
    }),
  }, { description: 'Which processes to probe: pods of this namespace matching selector, then container and process.' }).required(),
  probes: s.array(probe, { description: 'Functions to probe.', minItems: 1, maxItems: 32, listType: 'atomic' }).required(),
  table: s.string({
    description: 'Output table (upid, time_, one column per capture). Must not be a built-in table.',
    pattern: IDENTIFIER_PATTERN, minLength: 1, maxLength: 63,
  }).required(),
  ttl: s.duration({ description: 'Detach the probes this long after creation. Absent: keep until the Tracepoint is deleted.' }),
}, { description: 'Dynamic user-space probes.' }).validate({
  rule: `!(self.table in [${RESERVED_TABLE_NAMES.map((n) => `'${n}'`).join(', ')}])`,
  message: 'table names a built-in table; choose another name',
  fieldPath: '.table',
});
export type TracepointSpec = Infer<typeof tracepointSpec>;
export type Probe = Infer<typeof probe>;

export const tracepointNodeStatus = s.object({
  node: s.string({ description: 'Node name.', maxLength: 253 }).required(),
  state: s.enum(Object.values(AttachState), {
    description: 'Attached, Skipped (no matching process on the node) or Failed.',
  }).required(),
  reason: s.string({ description: 'CamelCase reason (SymbolNotFound, NoMatchingProcess, ...).', maxLength: 128 }),
  message: s.string({ description: 'What happened and what to fix.', maxLength: 4096 }),
  processes: s.integer({ description: 'Processes with every probe attached on the node.', minimum: 0, format: 'int32' }),
}, { description: 'The Tracepoint on one node.' });
export type TracepointNodeStatus = Infer<typeof tracepointNodeStatus>;

export const tracepointStatus = s.object({
  observedGeneration,
  conditions,
  attachedNodes: s.integer({ description: 'Nodes where the probes are attached.', minimum: 0, format: 'int32' }),
  expiresAt: s.dateTime({ description: 'When ttl detaches the probes.' }),
  nodes: s.array(tracepointNodeStatus, {
    description: 'Per-node outcome (at most 256 nodes; failures listed first).',
    maxItems: 256, listType: 'map', mapKeys: ['node'],
  }),
}, { description: 'Where the probes are attached.' });
export type TracepointStatus = Infer<typeof tracepointStatus>;

export type Tracepoint = Resource<'Tracepoint', TracepointSpec, TracepointStatus>;

export const tracepointSchema = Object.freeze({ names: TRACEPOINT, spec: tracepointSpec, status: tracepointStatus });

/**
 * Problems the schema cannot express: label key syntax, an unparseable
 * process regexp, a zero ttl. Pure: does not read or change anything else.
 */
export function validateTracepoint(tracepoint: Pick<Tracepoint, 'spec'>): Problem[] {
  const problems: Problem[] = [];
  const spec = tracepoint.spec;
  validateLabelSelector(spec.target.selector, 'spec.target.selector', problems);
  if (spec.target.process !== undefined) {
    try {
      new RegExp(spec.target.process, 'u');
    } catch (error) {
      problems.push({
        field: 'spec.target.process', reason: 'InvalidProcessPattern',
        message: `process ${JSON.stringify(spec.target.process)} is not a valid regular expression: ${(error as Error).message}`,
      });
    }
  }
  if (spec.ttl !== undefined && validateDuration(spec.ttl, 'spec.ttl', problems) === 0) {
    problems.push({ field: 'spec.ttl', reason: 'InvalidDuration', message: 'ttl 0 would detach at once; remove ttl or make it positive' });
  }
  return problems;
}
