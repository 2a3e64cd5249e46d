// Queries across agents, against the real test bed: three eBPF agents each
// playing a node, the cluster query endpoint fanning a script out to them and
// merging partial aggregates; an agent that cannot be reached is reported
// beside the partial result, never hidden.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'mocha';
import { freePort, requireBuilt, requireRoot, ROOT, run, stop, waitFor, WISP } from '../support/processes.ts';
import { createFakePod, deleteNamespaceWithFakePods, deleteNodes, ensureNode, type FakePod } from '../support/pods.ts';
import { ensureTestbed, kubectlOk } from '../support/testbed.ts';
import { serviceAccountKubeconfig } from './support/cluster.ts';

const NAMESPACE = 'wisp-dist-test';
/** A second namespace with a server in a pod: its rows are for users who may read it. */
const OTHER_NAMESPACE = 'wisp-dist-other';
const NODES = ['dist-a', 'dist-b', 'dist-c'];

function startProcess(args: readonly string[]): { child: ChildProcess; log: () => string } {
  const child = spawn(WISP, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
  return { child, log: () => stderr };
}

let adminKubeconfig = '';

/** wisp run against an agent or the endpoint; the endpoint needs a bearer token (the admin's unless `kubeconfig` says). */
async function wispRun(server: string, script: string, kubeconfig = adminKubeconfig): Promise<{ rows: Record<string, unknown>[]; stderr: string }> {
  const result = await run(WISP, ['run', '--server', server, '--kubeconfig', kubeconfig, '-o', 'json', '-'], { input: script });
  if (result.code !== 0) throw new Error(`wisp run (${server}) failed: ${result.stderr.trim()}`);
  return { rows: result.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>), stderr: result.stderr };
}

function countsScript(port: number): string {
  return `import px
df = px.DataFrame(table='http_events', start_time='-10m')
df = df[(df.trace_role == 2) & (df.local_port == ${port})]
df = df.groupby('req_path').agg(n=('latency', px.count), slowest=('latency', px.max))
px.display(df, 'counts')
`;
}

describe('queries across agents (real kube-apiserver, eBPF agents)', function () {
  this.timeout(0);
  const agents: { node: string; server: string; child: ChildProcess; log: () => string }[] = [];
  let endpoint: { child: ChildProcess; log: () => string } | undefined;
  let endpointUrl: string;
  let http: ChildProcess | undefined;
  let httpPort: number;
  let otherHttp: ChildProcess | undefined;
  const pods: FakePod[] = [];

  /** Starts the HTTP fixture server in `pod`'s cgroup; resolves its port. */
  async function serveIn(pod: FakePod): Promise<{ child: ChildProcess; port: number }> {
    const child = pod.spawn(process.execPath, [join(ROOT, 'test', 'fixtures', 'http-server.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
    const port = Number(await new Promise<string>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(d.toString()))));
    return { child, port };
  }

  before(async () => {
    requireRoot('eBPF agents');
    requireBuilt();
    const testbed = await ensureTestbed();
    adminKubeconfig = testbed.kubeconfig;
    for (const namespace of [NAMESPACE, OTHER_NAMESPACE]) {
      await deleteNamespaceWithFakePods(namespace, true);
      await kubectlOk(['create', 'namespace', namespace]);
    }
    for (const node of NODES) await ensureNode(node);
    // Both servers run in pods of node dist-a: only that node's agent resolves their namespaces.
    pods.push(await createFakePod({ namespace: NAMESPACE, name: 'web', node: NODES[0]!, ip: '10.244.8.10' }));
    pods.push(await createFakePod({ namespace: OTHER_NAMESPACE, name: 'web', node: NODES[0]!, ip: '10.244.8.11' }));
    for (const node of NODES) {
      const port = await freePort();
      const started = startProcess(['agent', '--node-name', node, '--kubeconfig', testbed.kubeconfig, '-n', NAMESPACE, '--listen', `127.0.0.1:${port}`]);
      agents.push({ node, server: `http://127.0.0.1:${port}`, ...started });
    }
    const endpointPort = await freePort();
    endpointUrl = `http://127.0.0.1:${endpointPort}`;
    endpoint = startProcess(['query-server', '--kubeconfig', testbed.kubeconfig, '-n', NAMESPACE, '--listen', `127.0.0.1:${endpointPort}`, '--agent-timeout', '5000']);
    for (const agent of agents) {
      await waitFor(`agent ${agent.node}`, async () => {
        if (agent.child.exitCode !== null) throw new Error(`agent ${agent.node} exited: ${agent.log()}`);
        return (await fetch(`${agent.server}/healthz`).catch(() => undefined))?.ok ? true : undefined;
      }, 30_000);
    }
    await waitFor('three agent Leases with query addresses', async () => {
      const leases = JSON.parse(await kubectlOk(['-n', NAMESPACE, 'get', 'leases', '-o', 'json'])) as { items: { metadata: { annotations?: Record<string, string> } }[] };
      return leases.items.filter((l) => l.metadata.annotations?.['wisp.dev/query-address']).length === NODES.length ? true : undefined;
    });
    await waitFor('the query endpoint', async () => {
      if (endpoint!.child.exitCode !== null) throw new Error(`query-server exited: ${endpoint!.log()}`);
      return (await fetch(`${endpointUrl}/healthz`).catch(() => undefined))?.ok ? true : undefined;
    });
    // Traffic every agent sees (one kernel): a Node server in each pod and a few requests.
    ({ child: http, port: httpPort } = await serveIn(pods[0]!));
    for (const path of ['/json?x=1', '/json?x=1', '/json?x=1', '/missing', '/chunked']) {
      await fetch(`http://127.0.0.1:${httpPort}${path}`).then((r) => r.text());
    }
    const other = await serveIn(pods[1]!);
    otherHttp = other.child;
    for (const path of ['/json?x=2', '/missing']) await fetch(`http://127.0.0.1:${other.port}${path}`).then((r) => r.text());
  });

  after(async () => {
    await stop(http);
    await stop(otherHttp);
    await stop(endpoint?.child);
    for (const agent of agents) await stop(agent.child);
    for (const pod of pods) pod.removeCgroup();
    for (const namespace of [NAMESPACE, OTHER_NAMESPACE]) await deleteNamespaceWithFakePods(namespace, false);
    await deleteNodes(NODES);
  });

  it('merges partial aggregates from every agent into what the agents hold together', async () => {
    const script = countsScript(httpPort);
    const perAgent = await waitFor('every agent to hold the five server-side rows', async () => {
      const results = await Promise.all(agents.map((a) => wispRun(a.server, script)));
      const totals = results.map((r) => r.rows.reduce((n, row) => n + (row.n as number), 0));
      return totals.every((t) => t === 5) ? results : undefined;
    });
    const merged = await wispRun(endpointUrl, script);
    assert.equal(merged.stderr, '', 'no agent failed');
    const byPath = (rows: Record<string, unknown>[]): Record<string, [number, number]> =>
      Object.fromEntries(rows.map((r) => [r.req_path as string, [r.n as number, r.slowest as number]]));
    const expected: Record<string, [number, number]> = {};
    for (const result of perAgent) {
      for (const [path, [n, slowest]] of Object.entries(byPath(result.rows))) {
        const [sum, max] = expected[path] ?? [0, 0];
        expected[path] = [sum + n, Math.max(max, slowest)];
      }
    }
    assert.deepEqual(byPath(merged.rows), expected);
    assert.deepEqual(Object.keys(expected).sort(), ['/chunked', '/json?x=1', '/missing']);
    assert.equal(expected['/json?x=1']![0], 9, 'three requests seen by three agents');
  });

  it('reports an agent that cannot be reached beside the partial result', async () => {
    const deadPort = await freePort();
    await kubectlOk(['apply', '-f', '-'], { input: JSON.stringify({
      apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
      metadata: { name: 'wisp-agent-dist-dead', namespace: NAMESPACE, labels: { 'wisp.dev/agent-lease': 'true' },
        annotations: { 'wisp.dev/query-address': `127.0.0.1:${deadPort}`, 'wisp.dev/plan-version': '' } },
      spec: { holderIdentity: 'dist-dead', leaseDurationSeconds: 300, renewTime: new Date().toISOString().replace('Z', '000Z') },
    }) });
    try {
      const merged = await wispRun(endpointUrl, countsScript(httpPort));
      assert.match(merged.stderr, new RegExp(`^wisp run: warning: node dist-dead \\(127\\.0\\.0\\.1:${deadPort}\\) did not answer: reach agent: ECONNREFUSED; results are partial\\n$`));
      assert.equal(merged.rows.reduce((n, row) => n + (row.n as number), 0), 15, 'the three live agents still answer');
    } finally {
      await kubectlOk(['-n', NAMESPACE, 'delete', 'lease', 'wisp-agent-dist-dead']);
    }
  });

  it('answers with a partial result and a per-agent error when an agent hangs mid-query', async () => {
    const frozen = agents[2]!;
    process.kill(frozen.child.pid!, 'SIGSTOP'); // alive, Lease fresh, but never answers
    try {
      const started = Date.now();
      const merged = await wispRun(endpointUrl, countsScript(httpPort));
      assert.ok(Date.now() - started < 15_000, 'bounded by --agent-timeout');
      assert.match(merged.stderr, new RegExp(`^wisp run: warning: node ${frozen.node} \\(127\\.0\\.0\\.1:\\d+\\) did not answer: reach agent: no answer within 5000 ms; results are partial\n$`));
      assert.equal(merged.rows.reduce((n, row) => n + (row.n as number), 0), 10, 'the two other agents answer');
    } finally {
      process.kill(frozen.child.pid!, 'SIGCONT');
    }
  });

  it('answers with a partial result when an agent is killed', async () => {
    const killed = agents[2]!;
    const exited = new Promise((resolve) => killed.child.once('exit', resolve));
    killed.child.kill('SIGKILL');
    await exited;
    const merged = await wispRun(endpointUrl, countsScript(httpPort));
    assert.match(merged.stderr, new RegExp(`^wisp run: warning: node ${killed.node} .* did not answer: reach agent: ECONNREFUSED; results are partial\n$`));
    assert.equal(merged.rows.reduce((n, row) => n + (row.n as number), 0), 10);
  });

  describe('access control (TokenReview, SubjectAccessReview)', () => {
    before(async () => {
      for (const sa of ['reads-everything', 'reads-one-namespace', 'reads-nothing']) await kubectlOk(['-n', NAMESPACE, 'create', 'serviceaccount', sa]);
      await kubectlOk(['create', 'clusterrolebinding', 'wisp-dist-reads-everything', '--clusterrole=view', `--serviceaccount=${NAMESPACE}:reads-everything`]);
      await kubectlOk(['-n', NAMESPACE, 'create', 'rolebinding', 'reads-one-namespace', '--clusterrole=view', `--serviceaccount=${NAMESPACE}:reads-one-namespace`]);
    });
    after(async () => {
      await run(join(ROOT, 'hack', 'testbed'), ['kubectl', 'delete', 'clusterrolebinding', 'wisp-dist-reads-everything', '--ignore-not-found']);
    });

    it('refuses a request without a bearer token in one line', async () => {
      const result = await run(WISP, ['run', '--server', endpointUrl, '-'], { input: countsScript(httpPort) });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /^wisp run: no bearer token: use a kubeconfig with a token/);
    });

    it('refuses a token the API server does not accept', async () => {
      const kubeconfig = await serviceAccountKubeconfig(NAMESPACE, 'reads-nothing');
      const forged = join(ROOT, '.cache', 'forged-kubeconfig.json');
      const { writeFileSync, readFileSync } = await import('node:fs');
      const config = JSON.parse(readFileSync(kubeconfig, 'utf8')) as { users: { user: { token: string } }[] };
      config.users[0]!.user.token = 'not-a-real-token';
      writeFileSync(forged, JSON.stringify(config), { mode: 0o600 });
      const result = await run(WISP, ['run', '--server', endpointUrl, '--kubeconfig', forged, '-'], { input: countsScript(httpPort) });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /^wisp run: the API server did not accept the token/);
    });

    it('shows every row to a user who may get pods in every namespace', async () => {
      const merged = await wispRun(endpointUrl, countsScript(httpPort), await serviceAccountKubeconfig(NAMESPACE, 'reads-everything'));
      const admin = await wispRun(endpointUrl, countsScript(httpPort));
      assert.deepEqual(merged.rows, admin.rows);
      assert.ok(merged.rows.length > 0);
    });

    it('shows a user who may get pods in one namespace only rows of pods there', async () => {
      const script = `import px
df = px.DataFrame(table='http_events', start_time='-10m')
df = df[df.trace_role == 2]
df.namespace = df.ctx['namespace']
df = df.groupby('namespace').agg(n=('latency', px.count))
px.display(df, 'by_namespace')
`;
      const scoped = await wispRun(endpointUrl, script, await serviceAccountKubeconfig(NAMESPACE, 'reads-one-namespace'));
      // Five requests to the pod in NAMESPACE, resolved only by the agent of its node (dist-a).
      assert.deepEqual(scoped.rows.map(({ namespace, n }) => ({ namespace, n })), [{ namespace: NAMESPACE, n: 5 }]);
      const admin = await wispRun(endpointUrl, script);
      const byNamespace = Object.fromEntries(admin.rows.map((r) => [r.namespace as string, r.n as number]));
      assert.equal(byNamespace[NAMESPACE], 5);
      assert.equal(byNamespace[OTHER_NAMESPACE], 2, 'the other namespace\'s rows exist, the scoped user just may not see them');
      assert.ok((byNamespace[''] ?? 0) >= 7, 'dist-b (dist-c was killed above) sees the same requests without pod context');
    });

    it('lets only callers allowed to query agents (the endpoint, admins) ask an agent directly', async () => {
      const agent = agents[0]!;
      const ask = (headers: Record<string, string>): Promise<Response> =>
        fetch(`${agent.server}/api/v1/query`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ script: countsScript(httpPort) }) });
      const anonymous = await ask({});
      assert.equal(anonymous.status, 401);
      assert.match(((await anonymous.json()) as { error: string }).error, /^no bearer token/);
      // May read every namespace through the endpoint, but not the unscoped rows of an agent.
      const { readFileSync } = await import('node:fs');
      const config = JSON.parse(readFileSync(await serviceAccountKubeconfig(NAMESPACE, 'reads-everything'), 'utf8')) as { users: { user: { token: string } }[] };
      const viewer = await ask({ authorization: `Bearer ${config.users[0]!.user.token}` });
      assert.equal(viewer.status, 403);
      assert.equal(((await viewer.json()) as { error: string }).error, `system:serviceaccount:${NAMESPACE}:reads-everything may not query agents.wisp.dev: query through the wisp query endpoint`);
      const admin = await wispRun(agent.server, countsScript(httpPort));
      assert.ok(admin.rows.length > 0, 'an admin may');
    });

    it('refuses the token of a ServiceAccount that was deleted', async () => {
      await kubectlOk(['-n', NAMESPACE, 'create', 'serviceaccount', 'short-lived']);
      await kubectlOk(['create', 'clusterrolebinding', 'wisp-dist-short-lived', '--clusterrole=view', `--serviceaccount=${NAMESPACE}:short-lived`]);
      const kubeconfig = await serviceAccountKubeconfig(NAMESPACE, 'short-lived');
      await kubectlOk(['-n', NAMESPACE, 'delete', 'serviceaccount', 'short-lived']);
      await kubectlOk(['delete', 'clusterrolebinding', 'wisp-dist-short-lived']);
      const result = await run(WISP, ['run', '--server', endpointUrl, '--kubeconfig', kubeconfig, '-'], { input: countsScript(httpPort) });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /^wisp run: the API server did not accept the token/);
    });

    it('refuses a user who may get pods nowhere', async () => {
      const kubeconfig = await serviceAccountKubeconfig(NAMESPACE, 'reads-nothing');
      const result = await run(WISP, ['run', '--server', endpointUrl, '--kubeconfig', kubeconfig, '-'], { input: countsScript(httpPort) });
      assert.equal(result.code, 1);
      assert.match(result.stderr, new RegExp(`^wisp run: system:serviceaccount:${NAMESPACE}:reads-nothing may not get pods in any namespace\n$`));
    });
  });

  it('refuses a broken script before asking any agent, with line and column', async () => {
    const result = await run(WISP, ['run', '--server', endpointUrl, '--kubeconfig', adminKubeconfig, '-'], { input: 'import px\npx.display(px.DataFrame("no_such_table"))\n' });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^wisp run: 2:\d+: .*no_such_table/);
  });
});
