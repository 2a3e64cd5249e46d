// Kubernetes context of captured rows, through the real resolution path: an
// eBPF agent playing node ctx-node of the test bed, a server and a client
// placed in the cgroups of two pods bound to that node, a Service naming the
// server pod. Rows name pod, namespace, service, container and node; the
// client (curl) has exited before anything is queried.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'mocha';
import { freePort, requireBuilt, requireCommand, requireRoot, ROOT, run, stop, waitFor, WISP } from './support/processes.ts';
import { createFakePod, createService, deleteNamespaceWithFakePods, deleteNodes, ensureNode, type FakePod } from './support/pods.ts';
import { ensureTestbed, kubectlOk } from './support/testbed.ts';

const NODE = 'ctx-node';
const SHOP = 'wisp-ctx-shop';
const CLIENTS = 'wisp-ctx-clients';

describe('Kubernetes context of rows (real test bed, pod cgroups, eBPF agent)', function () {
  this.timeout(0);
  let agent: ChildProcess | undefined;
  let agentLog = '';
  let server: ChildProcess | undefined;
  let agentUrl = '';
  let port = 0;
  let kubeconfig = '';
  let web: FakePod | undefined;
  let client: FakePod | undefined;

  before(async () => {
    requireRoot('the eBPF agent and cgroup placement');
    requireBuilt();
    const curl = requireCommand('curl', 'curl');
    const testbed = await ensureTestbed();
    kubeconfig = testbed.kubeconfig;
    for (const ns of [SHOP, CLIENTS]) {
      await deleteNamespaceWithFakePods(ns, true);
      await kubectlOk(['create', 'namespace', ns]);
    }
    await ensureNode(NODE);
    web = await createFakePod({ namespace: SHOP, name: 'web', node: NODE, ip: '10.244.7.10', container: 'server' });
    client = await createFakePod({ namespace: CLIENTS, name: 'client', node: NODE, ip: '10.244.7.11', container: 'curl' });
    await createService(SHOP, 'web', 80, [web]);

    const agentPort = await freePort();
    agentUrl = `http://127.0.0.1:${agentPort}`;
    agent = spawn(WISP, ['agent', '--node-name', NODE, '--kubeconfig', testbed.kubeconfig, '-n', SHOP, '--listen', `127.0.0.1:${agentPort}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    agent.stderr!.on('data', (d: Buffer) => { agentLog = (agentLog + d.toString()).slice(-4000); });
    await waitFor('the agent', async () => {
      if (agent!.exitCode !== null) throw new Error(`agent exited: ${agentLog}`);
      return (await fetch(`${agentUrl}/healthz`).catch(() => undefined))?.ok ? true : undefined;
    }, 30_000);

    server = web.spawn(process.execPath, [join(ROOT, 'test', 'fixtures', 'http-server.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
    port = Number(await new Promise<string>((resolve) => server!.stdout!.once('data', (d: Buffer) => resolve(d.toString()))));
    for (const path of ['/json?x=1', '/missing']) {
      const curlProcess = client.spawn(curl, ['-s', '-o', '/dev/null', `http://127.0.0.1:${port}${path}`], { stdio: 'ignore' });
      const code = await new Promise<number | null>((resolve) => curlProcess.once('exit', resolve));
      assert.equal(code, 0, `curl ${path} in the client pod`);
    }
  });

  after(async () => {
    await stop(server);
    await stop(agent);
    web?.removeCgroup();
    client?.removeCgroup();
    for (const ns of [SHOP, CLIENTS]) await deleteNamespaceWithFakePods(ns, false);
    await deleteNodes([NODE]);
  });

  async function query(script: string): Promise<Record<string, unknown>[]> {
    // A cluster agent answers admins (and the query endpoint) only: the admin's token.
    const result = await run(WISP, ['run', '--server', agentUrl, '--kubeconfig', kubeconfig, '-o', 'json', '-'], { input: script });
    if (result.code !== 0) throw new Error(`wisp run failed: ${result.stderr.trim()}`);
    return result.stdout.split('\n').filter(Boolean).map((l) => {
      const { _tableName: _output, ...row } = JSON.parse(l) as Record<string, unknown>;
      return row;
    });
  }

  it('names pod, namespace, service, container and node of both sides, after the client exited', async () => {
    const script = `import px
df = px.DataFrame(table='http_events', start_time='-5m')
df = df[(df.local_port == ${port}) | (df.remote_port == ${port})]
df.pod = df.ctx['pod']
df.namespace = df.ctx['namespace']
df.service = df.ctx['service']
df.container = df.ctx['container']
df.node = df.ctx['node']
df.pod_id = px.upid_to_pod_id(df.upid)
df = df.groupby(['trace_role', 'pod', 'namespace', 'service', 'container', 'node', 'pod_id']).agg(n=('latency', px.count))
px.display(df)
`;
    const rows = await waitFor('two rows per side', async () => {
      const result = await query(script);
      return result.reduce((n, r) => n + (r.n as number), 0) === 4 ? result : undefined;
    }, 20_000);
    const bySide = Object.fromEntries(rows.map((r) => [r.trace_role as number, r]));
    assert.deepEqual(bySide[2], { trace_role: 2, pod: `${SHOP}/web`, namespace: SHOP, service: `${SHOP}/web`, container: 'server', node: NODE, pod_id: web!.uid, n: 2 });
    assert.deepEqual(bySide[1], { trace_role: 1, pod: `${CLIENTS}/client`, namespace: CLIENTS, service: '', container: 'curl', node: NODE, pod_id: client!.uid, n: 2 });
  });

  it('resolves pod names, pod ids and IPs to their pods and services', async () => {
    const rows = await query(`import px
df = px.DataFrame(table='http_events', start_time='-5m')
df = df[df.local_port == ${port}]
df = df.head(1)
df.by_name = px.pod_name_to_service_name('${SHOP}/web')
df.by_id = px.pod_id_to_pod_name('${web!.uid}')
df.ip_pod = px.ip_to_pod_name('${web!.ip}')
df.ip_service = px.ip_to_service_name('${web!.ip}')
df = df[['by_name', 'by_id', 'ip_pod', 'ip_service']]
px.display(df)
`);
    assert.deepEqual(rows, [{ by_name: `${SHOP}/web`, by_id: `${SHOP}/web`, ip_pod: `${SHOP}/web`, ip_service: `${SHOP}/web` }]);
  });

  it('leaves processes outside pods without pod context', async () => {
    const rows = await query(`import px
df = px.DataFrame(table='http_events', start_time='-5m')
df.pod = df.ctx['pod']
df = df[df.pod == '']
df.node = df.ctx['node']
df = df.groupby('node').agg(n=('latency', px.count))
px.display(df)
`);
    for (const row of rows) assert.equal(row.node, NODE, 'processes outside pods still name the node');
  });
});
