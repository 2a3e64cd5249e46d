// ExportPipeline.status end to end on the test bed: the operator compiles
// the pipelines into the agent plan, a real agent (eBPF capture) exports
// real nginx traffic to a real Jaeger and reports its counters on its node
// Lease, and the operator writes exported / dropped / last error and the
// Ready and Exporting conditions into each pipeline's status. The agent runs
// as the agents' ServiceAccount: it reads the Secrets a pipeline names
// (headers, CA) through the Role the operator grants for exactly those.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'mocha';
import { NginxProcess } from '../support/nginx.ts';
import { freePort, requireCommand, requireRoot, ROOT, run, waitFor } from '../support/processes.ts';
import { ensureTestbed, kubectl, kubectlOk } from '../support/testbed.ts';
import { createHash } from 'node:crypto';
import { JaegerProcess, testCertificates } from '../export/support/peers.ts';
import { condition, getJson, serviceAccountKubeconfig, WispProcess, type Condition } from './support/cluster.ts';

process.env.WISP_FROM_SOURCE ??= '1';

const AGENT_NS = 'wisp-export-e2e';
const APPS_NS = 'wisp-export-e2e-apps';
const NODE = 'export-e2e-node';
const COLLECTOR = 'export-e2e';

interface PipelineStatus {
  exported?: number; dropped?: number; droppedByReason?: Record<string, number>;
  lastError?: string; lastErrorTime?: string; lastExportTime?: string; conditions?: Condition[];
}

async function pipelineStatus(name: string): Promise<PipelineStatus | undefined> {
  return (await getJson<{ status?: PipelineStatus }>(['exportpipeline', '-n', APPS_NS, name]))?.status;
}

const apply = (object: unknown) => kubectlOk(['apply', '--server-side', '-f', '-'], { input: JSON.stringify(object) });

describe('ExportPipeline status from the agents\' reports (test bed, root, eBPF, real nginx and Jaeger)', function () {
  this.timeout(300_000);
  let operator: WispProcess | undefined;
  let agent: WispProcess | undefined;
  let jaeger: JaegerProcess;
  let secureJaeger: JaegerProcess;
  let nginx: NginxProcess;

  const pipeline = (name: string, otlp: Record<string, unknown>) => ({
    apiVersion: 'wisp.dev/v1alpha1', kind: 'ExportPipeline', metadata: { name, namespace: APPS_NS },
    spec: {
      source: { preset: 'http-spans' }, interval: '1s', destination: { otlp },
      batch: { timeout: '100ms' }, retry: { initialInterval: '100ms', maxInterval: '500ms', maxElapsedTime: '2s' },
    },
  });

  before(async function () {
    this.timeout(0); // a cold machine builds the test bed (and Jaeger) first
    requireRoot('the eBPF agent');
    const { kubeconfig } = await ensureTestbed();
    await kubectlOk(['apply', '--server-side', '--force-conflicts', '-f', join(ROOT, 'crds')]);
    await kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
    for (const name of [AGENT_NS, APPS_NS]) await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    await apply({ apiVersion: 'v1', kind: 'Node', metadata: { name: NODE } });
    await apply({
      apiVersion: 'wisp.dev/v1alpha1', kind: 'Collector', metadata: { name: COLLECTOR },
      spec: { namespace: AGENT_NS, image: 'wisp:0.1.0', memoryLimit: '512Mi' },
    });
    const certs = await testCertificates();
    const password = 's3cret';
    [jaeger, secureJaeger, nginx] = await Promise.all([
      JaegerProcess.start(),
      JaegerProcess.start({ tls: certs, basicAuth: `wisp:{SHA}${createHash('sha1').update(password).digest('base64')}` }),
      NginxProcess.start({ 'e2e.txt': 'exported\n' }),
    ]);
    await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'otlp-auth', namespace: APPS_NS }, stringData: { authorization: `Basic ${Buffer.from(`wisp:${password}`).toString('base64')}` } });
    await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'otlp-ca', namespace: APPS_NS }, stringData: { 'ca.crt': certs.caPem } });
    await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'not-for-agents', namespace: APPS_NS }, stringData: { password: 'x' } });
    await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'otlp-wrong-auth', namespace: APPS_NS }, stringData: { authorization: `Basic ${Buffer.from('wisp:wrong').toString('base64')}` } });
    await apply(pipeline('wrong-auth', { endpoint: secureJaeger.otlpGrpc, protocol: 'grpc', tls: { secretRef: { name: 'otlp-ca' } }, headersFrom: { secretRef: { name: 'otlp-wrong-auth' } } }));
    await apply(pipeline('tls-auth', { endpoint: secureJaeger.otlpGrpc, protocol: 'grpc', tls: { secretRef: { name: 'otlp-ca' } }, headersFrom: { secretRef: { name: 'otlp-auth' } } }));
    await apply(pipeline('to-jaeger', { endpoint: jaeger.otlpGrpc, protocol: 'grpc', insecure: true }));
    await apply(pipeline('unreachable', { endpoint: `127.0.0.1:${await freePort()}`, protocol: 'grpc', insecure: true, timeout: '1s' }));
    await apply(pipeline('missing-secret', { endpoint: jaeger.otlpGrpc, protocol: 'grpc', insecure: true, headersFrom: { secretRef: { name: 'no-such-secret' } } }));
    operator = new WispProcess(['operator', '--kubeconfig', kubeconfig, '--health-listen', `127.0.0.1:${await freePort()}`]);
    await waitFor('the agent ServiceAccount', async () => {
      operator!.assertRunning();
      return (await getJson(['serviceaccount', '-n', AGENT_NS, 'wisp-agent'])) ? true : undefined;
    }, 60_000);
    const agentKubeconfig = await serviceAccountKubeconfig(AGENT_NS, 'wisp-agent');
    agent = new WispProcess(['agent', '--node-name', NODE, '--kubeconfig', agentKubeconfig, '-n', AGENT_NS, '--listen', `127.0.0.1:${await freePort()}`]);
    await waitFor('the agent Lease', async () => {
      agent!.assertRunning();
      operator!.assertRunning();
      return (await getJson(['lease', '-n', AGENT_NS, `wisp-agent-${NODE}`])) ? true : undefined;
    }, 60_000);
    const curl = requireCommand('curl', 'curl');
    const args = ['-sS', '--rate', '20/s'];
    for (let i = 0; i < 20; i++) args.push('-o', '/dev/null', `http://127.0.0.1:${nginx.port}/e2e.txt`);
    assert.equal((await run(curl, args)).code, 0);
  });

  after(async function () {
    this.timeout(120_000);
    for (const name of ['to-jaeger', 'unreachable', 'missing-secret', 'tls-auth', 'wrong-auth']) await kubectl(['delete', 'exportpipeline', '-n', APPS_NS, name, '--ignore-not-found']);
    // The Collector's finalizer needs the operator: delete it before stopping the operator.
    await kubectl(['delete', 'collector', COLLECTOR, '--ignore-not-found', '--timeout=60s']);
    await agent?.stop();
    await operator?.stop();
    await jaeger?.stop();
    await secureJaeger?.stop();
    await nginx?.stop();
    await kubectl(['delete', 'node', NODE, '--ignore-not-found']);
    await kubectl(['delete', 'namespace', APPS_NS, AGENT_NS, '--ignore-not-found', '--wait=false']);
  });

  it('writes exported, last export time and Exporting=True for a working pipeline', async () => {
    const status = await waitFor('to-jaeger status.exported ≥ 40', async () => {
      agent!.assertRunning();
      const s = await pipelineStatus('to-jaeger');
      return s?.exported !== undefined && s.exported >= 40 ? s : undefined;
    }, 90_000);
    assert.ok(status.lastExportTime, 'lastExportTime');
    assert.equal(status.dropped, 0);
    const exporting = await condition(['exportpipeline', '-n', APPS_NS, 'to-jaeger'], 'Exporting');
    assert.deepEqual([exporting?.status, exporting?.reason], ['True', 'ExportSucceeded']);
    assert.equal((await condition(['exportpipeline', '-n', APPS_NS, 'to-jaeger'], 'Ready'))?.status, 'True');
    const spans = await jaeger.spans('nginx');
    assert.ok(spans.filter((s) => s.name === 'GET /e2e.txt').length >= 20, 'the spans are in Jaeger');
  });

  it('turns Ready False with reason Unreachable, the agent\'s error and the drops for an unreachable endpoint', async () => {
    const ready = await waitFor('unreachable Ready=False Unreachable', async () => {
      const c = await condition(['exportpipeline', '-n', APPS_NS, 'unreachable'], 'Ready');
      return c?.status === 'False' && c.reason === 'Unreachable' ? c : undefined;
    }, 90_000);
    assert.match(ready.message, new RegExp(`node ${NODE}: gRPC UNAVAILABLE`));
    const status = await waitFor('unreachable drops', async () => {
      const s = await pipelineStatus('unreachable');
      return s?.dropped ? s : undefined;
    }, 60_000);
    assert.ok((status.droppedByReason?.retryExhausted ?? 0) > 0);
    assert.equal(status.exported, 0);
    assert.match(status.lastError ?? '', /ECONNREFUSED/);
    assert.equal((await condition(['exportpipeline', '-n', APPS_NS, 'unreachable'], 'Exporting'))?.reason, 'Unreachable');
  });

  it('turns Ready False with reason SecretNotFound when headersFrom names a missing Secret', async () => {
    const ready = await waitFor('missing-secret Ready=False', async () => {
      const c = await condition(['exportpipeline', '-n', APPS_NS, 'missing-secret'], 'Ready');
      return c?.status === 'False' ? c : undefined;
    }, 60_000);
    assert.equal(ready.reason, 'SecretNotFound');
    assert.match(ready.message, /no-such-secret/);
  });

  it('exports over TLS with a custom CA and headers from Secrets the agent may read, and no other Secret', async () => {
    const status = await waitFor('tls-auth status.exported ≥ 40', async () => {
      const s = await pipelineStatus('tls-auth');
      return s?.exported !== undefined && s.exported >= 40 ? s : undefined;
    }, 90_000).catch(async (error: Error) => {
      throw new Error(`${error.message}; status ${JSON.stringify(await pipelineStatus('tls-auth'))}`);
    });
    assert.equal(status.dropped, 0);
    assert.ok((await secureJaeger.spans('nginx')).some((s) => s.name === 'GET /e2e.txt'), 'the spans are in the TLS Jaeger');
    const role = await getJson<{ rules: Array<{ resources: string[]; resourceNames: string[]; verbs: string[] }> }>(['role', '-n', APPS_NS, 'wisp-export-tls-auth']);
    assert.deepEqual(role?.rules, [{ apiGroups: [''], resources: ['secrets'], resourceNames: ['otlp-auth', 'otlp-ca'], verbs: ['get'] }]);
    const canI = async (secret: string) => (await kubectl(['auth', 'can-i', 'get', `secret/${secret}`, '-n', APPS_NS, '--as', `system:serviceaccount:${AGENT_NS}:wisp-agent`])).stdout.trim();
    assert.equal(await canI('otlp-auth'), 'yes');
    assert.equal(await canI('not-for-agents'), 'no');
  });

  it('turns Ready False with reason Rejected when the receiver refuses the credentials from the Secret', async () => {
    const ready = await waitFor('wrong-auth Ready=False Rejected', async () => {
      const c = await condition(['exportpipeline', '-n', APPS_NS, 'wrong-auth'], 'Ready');
      return c?.status === 'False' && c.reason === 'Rejected' ? c : undefined;
    }, 90_000);
    assert.match(ready.message, /UNAUTHENTICATED/);
    const status = await waitFor('wrong-auth drops', async () => {
      const s = await pipelineStatus('wrong-auth');
      return s?.droppedByReason?.rejected ? s : undefined;
    }, 60_000);
    assert.equal(status.exported, 0);
  });
});
