// config/ as users apply it: the samples pass the CRD schemas, the invalid
// samples carry an `# expect:` line and (where no CEL rule is involved) fail
// the schema offline with that text; the generated RBAC matches rbac.ts. The
// same files go through the real API server in test/crds.test.ts.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { load, loadAll } from 'js-yaml';
import { AGENT_RULES, OPERATOR_RULES } from '../rbac.ts';
import { renderCrd } from './crd.generator.ts';
import { checkSchema } from './openapi.test-helper.ts';
import { renderRbac } from './rbac.generator.ts';
import type { OpenApiSchema } from './schema.builder.ts';
import { KINDS } from './v1alpha1/index.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SAMPLES = `${ROOT}config/samples/`;
const INVALID = `${SAMPLES}invalid/`;

type CrObject = { apiVersion: string; kind: string; spec?: unknown };

function schemaOf(kind: string): OpenApiSchema {
  const declared = KINDS.find((k) => k.names.kind === kind);
  assert.ok(declared, `no kind ${kind}`);
  const crd = renderCrd(declared) as { spec: { versions: [{ schema: { openAPIV3Schema: OpenApiSchema } }] } };
  return crd.spec.versions[0].schema.openAPIV3Schema;
}

const check = (object: CrObject): string[] => checkSchema(schemaOf(object.kind), { spec: object.spec }, '');
/** Strip the leading "." of the root path so errors read like the API server's ("spec.x"). */
const clean = (errors: string[]): string[] => errors.map((e) => e.replace(/(^|[\s:])\.(?=spec)/g, '$1'));

describe('config/samples', () => {
  const files = readdirSync(SAMPLES).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');

  it('has one sample per kind, listed in the kustomization', () => {
    const kinds = files.flatMap((f) => loadAll(readFileSync(`${SAMPLES}${f}`, 'utf8')) as CrObject[])
      .filter((o) => o.apiVersion === 'wisp.dev/v1alpha1').map((o) => o.kind).sort();
    assert.deepEqual(kinds, KINDS.map((k) => k.names.kind).sort());
    const kustomization = load(readFileSync(`${SAMPLES}kustomization.yaml`, 'utf8')) as { resources: string[] };
    assert.deepEqual([...kustomization.resources].sort(), [...files].sort());
  });

  for (const file of files) {
    it(`${file} passes its CRD schema`, () => {
      for (const object of loadAll(readFileSync(`${SAMPLES}${file}`, 'utf8')) as CrObject[]) {
        if (object.apiVersion !== 'wisp.dev/v1alpha1') continue;
        assert.deepEqual(clean(check(object)), []);
      }
    });
  }
});

describe('config/samples/invalid', () => {
  const files = readdirSync(INVALID).filter((f) => f.endsWith('.yaml'));

  it('holds at least 10 invalid objects covering every kind', () => {
    assert.ok(files.length >= 10);
    const kinds = new Set(files.map((f) => (load(readFileSync(`${INVALID}${f}`, 'utf8')) as CrObject).kind));
    assert.deepEqual([...kinds].sort(), KINDS.map((k) => k.names.kind).sort());
  });

  for (const file of files) {
    it(`${file} says what the API server must answer`, () => {
      const text = readFileSync(`${INVALID}${file}`, 'utf8');
      const expect = /^# expect: (.+)$/m.exec(text.split('\n')[0] ?? '')?.[1];
      assert.ok(expect, 'first line must be "# expect: <substring>"');
      const errors = clean(check(load(text) as CrObject));
      assert.match(expect, /^spec[^:]*: /, 'the expected message must start with the field path');
      // Schema errors (types, enums, bounds, patterns, required) show offline; CEL rules need the API server.
      // Offline, only the field is compared: wording differs between create and server-side apply.
      const field = expect.slice(0, expect.indexOf(': ') + 2);
      if (errors.length) assert.ok(errors.some((e) => e.startsWith(field)), `expected an error at ${field} in:\n${errors.join('\n')}`);
    });
  }
});

describe('config/rbac', () => {
  for (const [name, text] of renderRbac()) {
    it(`${name} is up to date (run make manifests when this fails)`, () => {
      assert.equal(readFileSync(`${ROOT}config/rbac/${name}`, 'utf8'), text);
    });
  }

  it('gives the operator every verb it grants the agents (RBAC escalation rule)', () => {
    for (const agentRule of AGENT_RULES) {
      for (const group of agentRule.apiGroups) {
        for (const resource of agentRule.resources) {
          for (const verb of agentRule.verbs) {
            assert.ok(OPERATOR_RULES.some((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb)),
              `operator lacks ${verb} ${group || 'core'}/${resource}`);
          }
        }
      }
    }
  });

  it('never grants wildcards', () => {
    for (const rule of [...OPERATOR_RULES, ...AGENT_RULES]) {
      for (const value of [...rule.apiGroups, ...rule.resources, ...rule.verbs]) assert.notEqual(value, '*');
    }
  });
});
