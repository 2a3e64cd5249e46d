// The real Kubernetes test bed (hack/testbed) is what the operator and cluster tests run against:
// check that it is the Kubernetes we pinned, that authorization is really on, and that its kubectl works.
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { before, describe, it } from 'mocha';
import { kubectl, kubectlOk, testbedCredentials, type TestbedCredentials } from './support/testbed.ts';

interface Reply { status: number; body: string }

function get(testbed: TestbedCredentials, path: string, token?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    const req = request(new URL(path, testbed.server), { ca: testbed.ca, headers, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

describe('Kubernetes test bed (hack/testbed)', function () {
  this.timeout(120_000);
  let testbed: TestbedCredentials;

  before(async function () {
    this.timeout(0); // on a cold machine this builds the control plane binary first
    testbed = await testbedCredentials();
  });

  it('serves Kubernetes v1.34.x over TLS signed by the test bed CA, on loopback', async () => {
    assert.match(testbed.server, /^https:\/\/127\.0\.0\.1:\d+$/);
    const reply = await get(testbed, '/version', testbed.token);
    assert.equal(reply.status, 200, reply.body);
    const version = JSON.parse(reply.body) as { gitVersion: string; major: string; minor: string };
    assert.match(version.gitVersion, /^v1\.34\.\d+$/);
    assert.equal(version.major, '1');
    assert.equal(version.minor, '34');
  });

  it('is ready, and the admin token is a cluster admin', async () => {
    const ready = await get(testbed, '/readyz', testbed.token);
    assert.equal(ready.status, 200, ready.body);
    const secrets = await get(testbed, '/api/v1/namespaces/kube-system/secrets', testbed.token);
    assert.equal(secrets.status, 200, secrets.body);
  });

  it('refuses an unknown token (401) and anonymous requests to resources (403)', async () => {
    const bogus = await get(testbed, '/api/v1/namespaces', 'not-a-valid-token');
    assert.equal(bogus.status, 401, bogus.body);
    const anonymous = await get(testbed, '/api/v1/namespaces');
    assert.equal(anonymous.status, 403, anonymous.body);
    assert.match(anonymous.body, /system:anonymous/);
  });

  it('authorizes with RBAC: a ServiceAccount token is authenticated but may do only what it is granted', async () => {
    const namespace = `testbed-rbac-${process.pid}`;
    await kubectlOk(['create', 'namespace', namespace]);
    try {
      await kubectlOk(['-n', namespace, 'create', 'serviceaccount', 'reader']);
      const token = (await kubectlOk(['-n', namespace, 'create', 'token', 'reader', '--duration=10m'])).trim();
      assert.ok(token.length > 0);

      // 403 naming the ServiceAccount: the token is authenticated, RBAC refuses it.
      const denied = await get(testbed, `/api/v1/namespaces/${namespace}/configmaps`, token);
      assert.equal(denied.status, 403, denied.body);
      assert.match(denied.body, new RegExp(`system:serviceaccount:${namespace}:reader`));

      await kubectlOk(['-n', namespace, 'create', 'role', 'cm-reader', '--verb=list', '--resource=configmaps']);
      await kubectlOk(['-n', namespace, 'create', 'rolebinding', 'cm-reader', '--role=cm-reader', `--serviceaccount=${namespace}:reader`]);
      const allowed = await get(testbed, `/api/v1/namespaces/${namespace}/configmaps`, token);
      assert.equal(allowed.status, 200, allowed.body);
      const stillDenied = await get(testbed, `/api/v1/namespaces/${namespace}/secrets`, token);
      assert.equal(stillDenied.status, 403, stillDenied.body);
    } finally {
      await kubectl(['delete', 'namespace', namespace, '--wait=false']);
    }
  });

  it('runs the controllers: namespaces get their default ServiceAccount and the root CA ConfigMap', async () => {
    const sa = await kubectlOk(['-n', 'default', 'get', 'serviceaccount', 'default', '-o', 'name']);
    assert.equal(sa.trim(), 'serviceaccount/default');
    const ca = await kubectlOk(['-n', 'default', 'get', 'configmap', 'kube-root-ca.crt', '-o', 'jsonpath={.data.ca\\.crt}']);
    assert.equal(ca.trim(), testbed.ca.trim());
  });

  it('has a kubectl of the same version: `hack/testbed kubectl get ns` lists the system namespaces', async () => {
    const names = (await kubectlOk(['get', 'ns', '-o', 'name'])).trim().split('\n');
    for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) assert.ok(names.includes(`namespace/${ns}`), names.join(' '));
    const version = JSON.parse(await kubectlOk(['version', '-o', 'json'])) as { clientVersion: { gitVersion: string }; serverVersion: { gitVersion: string } };
    assert.match(version.clientVersion.gitVersion, /^v1\.34\.\d+$/);
    assert.equal(version.clientVersion.gitVersion, version.serverVersion.gitVersion);
  });
});
