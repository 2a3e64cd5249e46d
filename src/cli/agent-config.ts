// `wisp agent --standalone --config PATH`: the same wisp.dev/v1alpha1
// documents a cluster takes (DataRetention, ExportPipeline), from a YAML file
// or a folder of *.yaml / *.yml, judged by the rules the cluster applies —
// the CRD schema with its CEL rules (src/operator/api), the operator's
// validators and its plan compiler (src/operator/plan) — and compiled into
// the same PlanTable / PlanRollup / PlanExport structures an agent in a
// cluster receives. The first problem found is the error, one line, naming
// the file, the object and the field.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import type { PlanExport, PlanRollup, PlanTable } from '../common/agent-plan.ts';
import { validateAgainstSchema } from '../operator/api/schema.validator.ts';
import {
  API_VERSION, dataRetentionSchema, exportPipelineSchema, validateDataRetention, validateExportPipeline,
  type DataRetention as DataRetentionResource, type ExportPipeline as ExportPipelineResource, type Problem,
} from '../operator/api/v1alpha1/index.ts';
import { compileInputs } from '../operator/plan/plan.compiler.ts';
import type { DataRetention, ExportPipeline } from '../operator/resources.ts';
import { builtinTables } from '../tables/index.ts';
import { CliError } from './client.ts';

/** Kinds a standalone agent applies. */
export const STANDALONE_KINDS = Object.freeze(['DataRetention', 'ExportPipeline'] as const);

/** Namespace given to namespaced objects (ExportPipeline) that name none. */
export const STANDALONE_NAMESPACE = 'default';

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const TOP_LEVEL = new Set(['apiVersion', 'kind', 'metadata', 'spec', 'status']);

export interface AgentConfig {
  /** Files read, in order. */
  readonly files: readonly string[];
  readonly tables: PlanTable[];
  readonly rollups: PlanRollup[];
  readonly exports: PlanExport[];
}

/** Reads, validates and compiles PATH (a file or a folder); throws CliError with one line. */
export function loadAgentConfig(path: string): AgentConfig {
  const files = configFiles(path);
  const retentions: DataRetention[] = [];
  const pipelines: ExportPipeline[] = [];
  /** "Kind/key" → where it was declared, for error messages. */
  const origin = new Map<string, string>();
  for (const file of files) {
    let documents: unknown[];
    try {
      documents = loadAll(readFileSync(file, 'utf8'));
    } catch (error) {
      throw new CliError(`${file}: parse YAML: ${(error as Error).message.split('\n')[0]}`);
    }
    documents.forEach((document, i) => {
      if (document === null || document === undefined) return;
      const where = `${file}: document ${i + 1}`;
      const object = checkEnvelope(document, where);
      const kind = object.kind as (typeof STANDALONE_KINDS)[number];
      const key = kind === 'ExportPipeline' ? `${object.metadata.namespace}/${object.metadata.name}` : object.metadata.name;
      const id = `${kind}/${key}`;
      if (origin.has(id)) throw new CliError(`${where}: ${id} is declared twice (also in ${origin.get(id)})`);
      origin.set(id, where);
      const schema = kind === 'DataRetention' ? dataRetentionSchema : exportPipelineSchema;
      const [problem] = validateAgainstSchema(schema.spec.openApi, object.spec, 'spec');
      if (problem !== undefined) throw new CliError(`${where}: ${id}: ${problem}`);
      if (kind === 'DataRetention') retentions.push(object as DataRetention);
      else pipelines.push(object as ExportPipeline);
    });
  }
  const knownTables = new Set([...builtinTables.keys(), ...retentions.flatMap((r) => (r.spec?.rollups ?? []).map((x) => x.name ?? ''))]);
  const fail = (id: string, problems: readonly Problem[]): void => {
    const [problem] = problems;
    if (problem) throw new CliError(`${origin.get(id)}: ${id}: ${problem.field}: ${problem.message}`);
  };
  for (const r of retentions) fail(`DataRetention/${r.metadata.name}`, validateDataRetention(r as unknown as DataRetentionResource, { knownTables }));
  for (const p of pipelines) fail(`ExportPipeline/${p.metadata.namespace}/${p.metadata.name}`, validateExportPipeline(p as unknown as ExportPipelineResource));
  // No Secrets exist on a standalone host: headersFrom is refused by the compiler with its usual reason.
  const compiled = compileInputs({ tracepoints: [], dataRetentions: retentions, exportPipelines: pipelines, secretExists: () => false });
  const refused = compiled.verdicts.find((v) => !v.ok);
  if (refused) {
    const id = `${refused.kind}/${refused.key}`;
    throw new CliError(`${origin.get(id) ?? id}: ${id}: ${refused.reason}: ${refused.message}`);
  }
  return { files, tables: compiled.tables, rollups: compiled.rollups, exports: compiled.exports };
}

function configFiles(path: string): string[] {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch (error) {
    throw new CliError(`--config ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or folder' : (error as Error).message}`);
  }
  if (!isDirectory) return [path];
  const files = readdirSync(path).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => join(path, f));
  if (files.length === 0) throw new CliError(`--config ${path}: the folder holds no *.yaml or *.yml file`);
  return files;
}

interface Envelope {
  kind: string;
  metadata: { name: string; namespace?: string };
  spec: unknown;
}

/** Checks apiVersion, kind and metadata; defaults an ExportPipeline's namespace. */
function checkEnvelope(document: unknown, where: string): Envelope {
  if (typeof document !== 'object' || Array.isArray(document) || document === null) throw new CliError(`${where}: want a Kubernetes object (apiVersion, kind, metadata, spec)`);
  const object = document as Record<string, unknown>;
  const unknown = Object.keys(object).find((k) => !TOP_LEVEL.has(k));
  if (unknown !== undefined) throw new CliError(`${where}: unknown field "${unknown}"`);
  if (object.apiVersion !== API_VERSION) throw new CliError(`${where}: apiVersion ${JSON.stringify(object.apiVersion)} is not ${API_VERSION}`);
  const kind = object.kind;
  if (!(STANDALONE_KINDS as readonly unknown[]).includes(kind)) {
    const hint = kind === 'Collector' ? ' (a standalone agent takes Collector settings as flags: --memory-limit, --max-body-bytes, --sources, --data-access)'
      : kind === 'Tracepoint' ? ' (Tracepoints need a cluster)' : '';
    throw new CliError(`${where}: kind ${JSON.stringify(kind)} is not applied by a standalone agent; use ${STANDALONE_KINDS.join(' or ')}${hint}`);
  }
  const metadata = object.metadata as { name?: unknown; namespace?: unknown } | undefined;
  if (typeof metadata?.name !== 'string' || !NAME.test(metadata.name) || metadata.name.length > 253) {
    throw new CliError(`${where}: metadata.name: want a DNS subdomain name such as "http-retention", got ${JSON.stringify(metadata?.name)}`);
  }
  if (metadata.namespace !== undefined && (typeof metadata.namespace !== 'string' || !NAME.test(metadata.namespace))) {
    throw new CliError(`${where}: metadata.namespace: want a namespace name, got ${JSON.stringify(metadata.namespace)}`);
  }
  if (object.spec === undefined) throw new CliError(`${where}: spec: Required value`);
  const namespace = kind === 'ExportPipeline' ? (metadata.namespace as string | undefined) ?? STANDALONE_NAMESPACE : undefined;
  return {
    kind: kind as string,
    metadata: { name: metadata.name, ...(namespace !== undefined && { namespace }) },
    spec: object.spec,
  };
}
