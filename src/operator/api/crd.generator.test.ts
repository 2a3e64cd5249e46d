import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { load } from 'js-yaml';
import { builtinTables } from '../../tables/index.ts';
import { crdFileName, HEADER, type KindSchema, renderAllCrds, renderCrd, renderCrdYaml } from './crd.generator.ts';
import type { OpenApiSchema } from './schema.builder.ts';
import {
  COLLECTOR, DATA_RETENTION, EXPORT_PIPELINE, KINDS, RESERVED_TABLE_NAMES, TRACEPOINT,
  type CollectorSpec, type ExportPipelineSpec, type KindNames, type TracepointSpec,
} from './v1alpha1/index.ts';

const CRDS_DIR = fileURLToPath(new URL('../../../crds/', import.meta.url));

type Crd = ReturnType<typeof renderCrd> & { spec: { versions: [{ schema: { openAPIV3Schema: OpenApiSchema } }] } };
const rootSchema = (kind: KindSchema): OpenApiSchema => (renderCrd(kind) as Crd).spec.versions[0].schema.openAPIV3Schema;

/** Every schema node under `schema`, with its path. */
function* nodes(schema: OpenApiSchema, path: string): Generator<[string, OpenApiSchema]> {
  yield [path, schema];
  const properties = schema['properties'] as Record<string, OpenApiSchema> | undefined;
  for (const [key, child] of Object.entries(properties ?? {})) yield* nodes(child, `${path}.${key}`);
  const items = schema['items'] as OpenApiSchema | undefined;
  if (items) yield* nodes(items, `${path}[]`);
  const additional = schema['additionalProperties'] as OpenApiSchema | undefined;
  if (additional) yield* nodes(additional, `${path}{}`);
}

/** The node at a dotted path below spec/status (`spec.source`). */
function at(schema: OpenApiSchema, path: string): OpenApiSchema {
  let node = schema;
  for (const part of path.split('.')) {
    const next = part === '[]' ? node['items'] : (node['properties'] as Record<string, OpenApiSchema> | undefined)?.[part];
    assert.ok(next, `no schema at ${path} (${part})`);
    node = next as OpenApiSchema;
  }
  return node;
}

const rules = (node: OpenApiSchema): string[] =>
  ((node['x-kubernetes-validations'] as { rule: string }[] | undefined) ?? []).map((r) => r.rule);

describe('CRD generator', () => {
  it('renders byte-identical output on every run', () => {
    assert.deepEqual([...renderAllCrds()], [...renderAllCrds()]);
  });

  it('matches the committed crds/ (run make manifests when this fails)', () => {
    const rendered = renderAllCrds();
    assert.deepEqual(readdirSync(CRDS_DIR).sort(), [...rendered.keys()].sort());
    for (const [name, text] of rendered) assert.equal(readFileSync(`${CRDS_DIR}${name}`, 'utf8'), text, name);
  });

  it('names files <plural>.wisp.dev.yaml and starts each with the generated-file header', () => {
    assert.equal(crdFileName(COLLECTOR), 'collectors.wisp.dev.yaml');
    for (const kind of KINDS) assert.ok(renderCrdYaml(kind).startsWith(HEADER));
  });

  it('round-trips every CRD through js-yaml', () => {
    for (const kind of KINDS) assert.deepEqual(load(renderCrdYaml(kind)), JSON.parse(JSON.stringify(renderCrd(kind))));
  });

  for (const kind of KINDS) {
    describe(`the ${kind.names.kind} CRD`, () => {
      const crd = renderCrd(kind) as Crd & { spec: Record<string, unknown> & { versions: [Record<string, unknown>] } };

      it('has scope, names, one served storage version and a status subresource', () => {
        assert.equal(crd.spec['scope'], kind.names.scope);
        assert.equal(crd.spec['group'], 'wisp.dev');
        const version = crd.spec.versions[0];
        assert.equal(version['name'], 'v1alpha1');
        assert.equal(version['served'], true);
        assert.equal(version['storage'], true);
        assert.deepEqual(version['subresources'], { status: {} });
        assert.deepEqual((crd.spec['names'] as { categories: string[] }).categories, ['wisp']);
      });

      it('prints Ready from the Ready condition, and Age', () => {
        const columns = crd.spec.versions[0]['additionalPrinterColumns'] as { name: string; jsonPath: string }[];
        assert.ok(columns.some((c) => c.name === 'Ready' && c.jsonPath === '.status.conditions[?(@.type=="Ready")].status'));
        assert.ok(columns.some((c) => c.name === 'Age' && c.jsonPath === '.metadata.creationTimestamp'));
      });

      it('describes every field of spec and status', () => {
        const root = rootSchema(kind);
        for (const part of ['spec', 'status']) {
          for (const [path, node] of nodes(at(root, part), part)) {
            assert.ok(typeof node['description'] === 'string' && node['description'].length > 0, `${path} has no description`);
          }
        }
      });

      it('is structural: every node has a type (or is int-or-string)', () => {
        for (const [path, node] of nodes(rootSchema(kind), kind.names.kind)) {
          assert.ok(node['type'] !== undefined || node['x-kubernetes-int-or-string'] === true, `${path} has no type`);
        }
      });

      it('keeps conditions a list map keyed by type, with the metav1.Condition fields', () => {
        const conditions = at(rootSchema(kind), 'status.conditions');
        assert.equal(conditions['x-kubernetes-list-type'], 'map');
        assert.deepEqual(conditions['x-kubernetes-list-map-keys'], ['type']);
        const item = at(conditions, '[]');
        assert.deepEqual(item['required'], ['type', 'status', 'lastTransitionTime', 'reason', 'message']);
        assert.deepEqual(at(item, 'status')['enum'], ['True', 'False', 'Unknown']);
        assert.ok(at(rootSchema(kind), 'status.observedGeneration'));
      });

      it('declares list map keys only on required fields', () => {
        for (const [path, node] of nodes(rootSchema(kind), kind.names.kind)) {
          const keys = node['x-kubernetes-list-map-keys'] as string[] | undefined;
          if (!keys) continue;
          const required = (node['items'] as OpenApiSchema)['required'] as string[] | undefined;
          for (const key of keys) assert.ok(required?.includes(key), `${path}: map key ${key} is not required`);
        }
      });
    });
  }

  describe('bounds, enums and CEL rules promised by the API', () => {
    const byNames = (names: KindNames): OpenApiSchema => {
      const kind = KINDS.find((k) => k.names === names);
      assert.ok(kind);
      return rootSchema(kind);
    };
    const collector = byNames(COLLECTOR);
    const exportPipeline = byNames(EXPORT_PIPELINE);
    const retention = byNames(DATA_RETENTION);
    const tracepoint = byNames(TRACEPOINT);

    it('bounds Collector tableStorePercent to 1..90 with default 60', () => {
      const node = at(collector, 'spec.tableStorePercent');
      assert.deepEqual([node['minimum'], node['maximum'], node['default']], [1, 90, 60]);
    });

    it('takes quantities as int-or-string with a non-negative pattern', () => {
      for (const node of [at(collector, 'spec.memoryLimit'), at(retention, 'spec.tables.[].maxBytes'), at(exportPipeline, 'spec.queue.maxBytes')]) {
        assert.equal(node['x-kubernetes-int-or-string'], true);
        assert.equal(node['minimum'], 0);
        const pattern = new RegExp(node['pattern'] as string);
        assert.ok(pattern.test('256Mi') && pattern.test('1024') && pattern.test('1.5Gi'));
        assert.ok(!pattern.test('-1Gi') && !pattern.test('lots'));
      }
    });

    it('takes durations such as 500ms, 1m30s and 7d, and refuses 10 seconds', () => {
      const pattern = new RegExp(at(exportPipeline, 'spec.interval')['pattern'] as string);
      for (const good of ['500ms', '1m30s', '7d', '10s', '1.5h']) assert.ok(pattern.test(good), good);
      for (const bad of ['10 seconds', '10', 's', '-1s', '']) assert.ok(!pattern.test(bad), bad);
    });

    it('refuses unknown presets and overflow policies by enum', () => {
      assert.deepEqual(at(exportPipeline, 'spec.source.preset')['enum'], ['http-spans', 'http-metrics', 'db-spans', 'process-metrics']);
      assert.deepEqual(at(exportPipeline, 'spec.overflow')['enum'], ['block', 'dropOldest', 'dropNewest']);
    });

    it('asks for exactly one of preset/script/table and one of otlp/prometheus', () => {
      assert.ok(rules(at(exportPipeline, 'spec.source')).some((r) => r.includes('has(self.preset)') && r.includes('has(self.script)') && r.includes('has(self.table)') && r.endsWith('== 1')));
      assert.ok(rules(at(exportPipeline, 'spec.destination')).some((r) => r.includes('has(self.otlp)') && r.includes('has(self.prometheus)') && r.endsWith('== 1')));
    });

    it('checks rollups do not read themselves and table budgets set something', () => {
      assert.ok(rules(at(retention, 'spec.rollups.[]')).includes('self.name != self.from'));
      assert.ok(rules(at(retention, 'spec.tables.[]')).includes('has(self.maxBytes) || has(self.maxAge)'));
      assert.match(at(retention, 'spec.rollups.[].from')['pattern'] as string, /\^\[a-z_\]/);
    });

    it('validates label selector operators and values', () => {
      const expression = at(tracepoint, 'spec.target.selector.matchExpressions.[]');
      assert.deepEqual(at(expression, 'operator')['enum'], ['In', 'NotIn', 'Exists', 'DoesNotExist']);
      assert.equal(rules(expression).length, 1);
    });

    it('keeps Tracepoints off every built-in table', () => {
      const rule = rules(at(tracepoint, 'spec')).join('\n');
      for (const name of builtinTables.keys()) assert.ok((RESERVED_TABLE_NAMES as readonly string[]).includes(name), name);
      for (const name of RESERVED_TABLE_NAMES) assert.ok(rule.includes(`'${name}'`), name);
    });
  });

  describe('the inferred TypeScript types', () => {
    it('follow the schema: required fields required, the rest optional', () => {
      const collector: CollectorSpec = { tableStorePercent: 60, dataAccess: 'PIIRestricted', sources: ['http', 'dns'] };
      const tracepoint: TracepointSpec = { target: { selector: {} }, probes: [{ function: 'main.f' }], table: 't' };
      const pipeline: ExportPipelineSpec = { source: { preset: 'http-spans' }, destination: { prometheus: {} }, overflow: 'block' };
      // @ts-expect-error an unknown data access mode is not a DataAccess
      const badAccess: CollectorSpec = { dataAccess: 'Everything' };
      // @ts-expect-error target, probes and table are required
      const missing: TracepointSpec = { table: 't' };
      assert.ok(collector && tracepoint && pipeline && badAccess && missing);
    });
  });
});
