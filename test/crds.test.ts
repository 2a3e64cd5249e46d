// The generated CRDs and every manifest of config/ against the real API server
// (hack/testbed): the CRDs install and become Established, the samples are
// accepted, each config/samples/invalid object is refused with the message its
// `# expect:` line names, defaults are applied, and config/default passes a
// server-side dry run. Objects are only dry-run, so nothing here reaches an
// operator another test may run.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import { AGENT_RULES } from '../src/operator/rbac.ts';
import { toK8sRule } from '../src/operator/api/rbac.generator.ts';
import { ROOT } from './support/processes.ts';
import { ensureTestbed, kubectl, kubectlOk } from './support/testbed.ts';

const CRDS = join(ROOT, 'crds');
const SAMPLES = join(ROOT, 'config', 'samples');
const INVALID = join(SAMPLES, 'invalid');
const NAMESPACE = 'wisp-crds-test';
const DRY_RUN = ['apply', '--server-side', '--dry-run=server', '--field-manager=wisp-crds-test'];

describe('wisp.dev CRDs on a real API server', function () {
  this.timeout(120_000);

  before(async function () {
    this.timeout(0); // a cold machine builds the test bed first (10-25 min)
    await ensureTestbed();
    await kubectlOk(['apply', '--server-side', '--field-manager=wisp-crds-test', '-f', CRDS]);
    const names = readdirSync(CRDS).filter((f) => f.endsWith('.yaml')).map((f) => `crd/${f.replace(/\.yaml$/, '')}`);
    await kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', ...names]);
    await kubectlOk(['create', 'namespace', NAMESPACE, '--dry-run=client', '-o', 'yaml'])
      .then((yaml) => kubectlOk(['apply', '--server-side', '--field-manager=wisp-crds-test', '-f', '-'], { input: yaml }));
  });

  after(async () => {
    await kubectl(['delete', 'namespace', NAMESPACE, '--ignore-not-found', '--wait=false']);
  });

  it('installs every CRD with its short names and the wisp category', async () => {
    const resources = await kubectlOk(['api-resources', '--api-group=wisp.dev', '-o', 'wide']);
    for (const shortName of ['wcol', 'wtp', 'wdr', 'wep']) assert.match(resources, new RegExp(`\\b${shortName}\\b`));
    await kubectlOk(['get', 'wisp', '-A']);
  });

  it('accepts every sample', async () => {
    await kubectlOk([...DRY_RUN, '-n', NAMESPACE, '-k', SAMPLES]);
  });

  it('applies the documented defaults to an empty Collector', async () => {
    const yaml = 'apiVersion: wisp.dev/v1alpha1\nkind: Collector\nmetadata: {name: defaults-probe}\nspec: {}\n';
    const object = JSON.parse(await kubectlOk([...DRY_RUN, '-o', 'json', '-f', '-'], { input: yaml })) as { spec: Record<string, unknown> };
    assert.equal(object.spec['namespace'], 'wisp-system');
    assert.equal(object.spec['tableStorePercent'], 60);
    assert.equal(object.spec['memoryLimit'], '1Gi');
    assert.equal(object.spec['dataAccess'], 'Full');
    assert.deepEqual(object.spec['namespaces'], { exclude: ['kube-system'] });
  });

  it('fills ExportPipeline batch, queue and retry defaults', async () => {
    const yaml = 'apiVersion: wisp.dev/v1alpha1\nkind: ExportPipeline\nmetadata: {name: defaults-probe}\nspec: {source: {preset: http-metrics}, destination: {prometheus: {}}}\n';
    const object = JSON.parse(await kubectlOk([...DRY_RUN, '-n', NAMESPACE, '-o', 'json', '-f', '-'], { input: yaml })) as { spec: Record<string, Record<string, unknown>> };
    assert.equal(object.spec['batch']?.['maxItems'], 4096);
    assert.equal(object.spec['queue']?.['maxBytes'], '32Mi');
    assert.equal(object.spec['retry']?.['maxElapsedTime'], '5m');
    assert.equal(object.spec['overflow'] as unknown, 'dropOldest');
  });

  describe('refuses invalid objects with a message naming the field', () => {
    for (const file of readdirSync(INVALID).filter((f) => f.endsWith('.yaml')).sort()) {
      it(file, async () => {
        const text = readFileSync(join(INVALID, file), 'utf8');
        const expect = /^# expect: (.+)$/.exec(text.split('\n')[0] ?? '')?.[1];
        assert.ok(expect, `${file}: first line must be "# expect: <substring>"`);
        const result = await kubectl([...DRY_RUN, '-n', NAMESPACE, '-f', '-'], { input: text });
        assert.notEqual(result.code, 0, `${file} was accepted`);
        assert.ok(result.stderr.includes(expect), `${file}: expected "${expect}" in:\n${result.stderr}`);
      });
    }
  });

  it('lets the operator\'s ServiceAccount create the agents\' ClusterRole (RBAC escalation rule)', async () => {
    await kubectlOk(['apply', '--server-side', '--field-manager=wisp-crds-test', '-f', join(ROOT, 'config', 'manager', 'namespace.yaml')]);
    await kubectlOk(['apply', '--server-side', '--field-manager=wisp-crds-test', '-k', join(ROOT, 'config', 'rbac')]);
    const role = dump({
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole',
      metadata: { name: 'wisp-crds-test-agent' }, rules: AGENT_RULES.map(toK8sRule),
    });
    await kubectlOk([...DRY_RUN, '--as=system:serviceaccount:wisp-system:wisp-operator', '-f', '-'], { input: role });
    const escalating = dump({
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'wisp-crds-test-escalate' },
      rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['delete'] }],
    });
    const refused = await kubectl([...DRY_RUN, '--as=system:serviceaccount:wisp-system:wisp-operator', '-f', '-'], { input: escalating });
    assert.notEqual(refused.code, 0, 'the operator could grant a verb it does not hold');
    assert.match(refused.stderr, /escalat/);
  });

  it('passes config/default (CRDs, RBAC, operator) through a server-side dry run', async () => {
    // The namespace must exist for a dry run of the objects inside it.
    await kubectlOk(['apply', '--server-side', '--field-manager=wisp-crds-test', '-f', join(ROOT, 'config', 'manager', 'namespace.yaml')]);
    await kubectlOk([...DRY_RUN, '-k', join(ROOT, 'config', 'default')]);
  });
});
