// Collector namespace scoping end to end: an eBPF agent playing node
// nsscope-node of the real test bed takes its Collector scoping from the plan
// ConfigMap, as a cluster agent does. Two pods (fake pods: real processes in
// kubelet-style pod cgroups, so the agent resolves them through its
// production path: kernel cgroup id → pod uid → pod watch → namespace), one
// in each of two namespaces, each run an HTTP server and curl clients of it,
// a redis-server and a redis-cli client, and a process in a network
// namespace of its own (a row of network_stats for the pod). With exclude=[B], every table holds rows of A's processes and
// none of B's; a new plan with include=[B] flips that for new traffic; and
// the dropped rows are counted on /metrics.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'mocha';
import { createFakePod, deleteNamespaceWithFakePods, deleteNodes, ensureNode, type FakePod } from './support/pods.ts';
import { freePort, requireBuilt, requireCommand, requireRoot, ROOT, run, stop, waitFor, WISP } from './support/processes.ts';
import { ensureTestbed, kubectl, kubectlOk } from './support/testbed.ts';

const NODE = 'nsscope-node';
const NS_A = 'wisp-nsscope-a';
const NS_B = 'wisp-nsscope-b';
/** Where the agent finds its plan and writes its Lease (a Collector's spec.namespace). */
const SYSTEM = 'wisp-nsscope-system';
const REQUESTS = 3;
/** conn_stats reports every 5 s, process_stats and network_stats sample every 10 s: room for two rounds. */
const STATS_WAIT_MS = 40_000;

type Row = Record<string, unknown>;

function planConfigMap(version: string, namespaces: { include: string[]; exclude: string[] }): string {
  return JSON.stringify({
    apiVersion: 'v1', kind: 'ConfigMap',
    metadata: { name: 'wisp-agent-plan', namespace: SYSTEM, annotations: { 'wisp.dev/plan-version': version } },
    data: { 'plan.json': JSON.stringify({ schema: 1, version, tables: [], collector: { namespaces } }) },
  });
}

async function appliedPlanVersion(): Promise<string> {
  const result = await kubectl(['-n', SYSTEM, 'get', 'lease', `wisp-agent-${NODE}`, '-o', 'json']);
  if (result.code !== 0) return '';
  const lease = JSON.parse(result.stdout) as { metadata: { annotations?: Record<string, string> } };
  return lease.metadata.annotations?.['wisp.dev/plan-version'] ?? '';
}

function metric(text: string, name: string, reason: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{reason="${reason}"} `));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

/** One pod's processes: long-lived servers and netns holder, and the clients run so far. */
interface PodProcesses {
  readonly pod: FakePod;
  readonly server: ChildProcess;
  readonly redis: ChildProcess;
  readonly netnsHolder: ChildProcess;
  readonly port: number;
  readonly redisPort: number;
  readonly curls: number[];
  readonly redisClients: number[];
}

describe('Collector namespace scoping of every table (real test bed, pod cgroups, eBPF agent)', function () {
  this.timeout(0);
  let kubeconfig = '';
  let agent: ChildProcess | undefined;
  let agentLog = '';
  let agentUrl = '';
  let curl = '';
  let redisServer = '';
  let redisCli = '';
  let a: PodProcesses | undefined;
  let b: PodProcesses | undefined;
  const pods: FakePod[] = [];

  async function query(script: string): Promise<Row[]> {
    // A cluster agent answers admins (and the query endpoint) only: the admin's kubeconfig.
    const result = await run(WISP, ['run', '--server', agentUrl, '--kubeconfig', kubeconfig, '-o', 'json', '-'], { input: script });
    if (result.code !== 0) throw new Error(`wisp run failed: ${result.stderr.trim()}`);
    return result.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Row);
  }

  /** pid, namespace (Kubernetes context) and trace_role (when the table has one) of every row of the last 5 minutes. */
  async function processRows(table: string, withRole: boolean): Promise<Row[]> {
    return query(`import px
df = px.DataFrame(table='${table}', start_time='-5m')
df.namespace = df.ctx['namespace']
df.pid = px.upid_to_pid(df.upid)
px.display(df[['pid', 'namespace'${withRole ? ", 'trace_role'" : ''}${table === 'conn_stats' ? ", 'remote_port', 'conn_close'" : ''}${table === 'redis_events' ? ", 'req_cmd'" : ''}]], 'rows')
`);
  }

  async function podRows(): Promise<Row[]> {
    return query(`import px
df = px.DataFrame(table='network_stats', start_time='-5m')
df = df[(df.pod_id == '${a!.pod.uid}') | (df.pod_id == '${b!.pod.uid}')]
px.display(df[['pod_id']], 'rows')
`);
  }

  async function startPod(pod: FakePod): Promise<PodProcesses> {
    const server = pod.spawn(process.execPath, [join(ROOT, 'test', 'fixtures', 'http-server.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
    const port = Number(await new Promise<string>((resolve, reject) => {
      server.stdout!.once('data', (d: Buffer) => resolve(d.toString()));
      server.once('exit', (code) => reject(new Error(`the HTTP server in ${pod.namespace}/${pod.name} exited ${code}`)));
    }));
    const redisPort = await freePort();
    const redis = pod.spawn(redisServer, ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--daemonize', 'no', '--protected-mode', 'no', '--logfile', ''], { stdio: 'ignore' });
    await waitFor(`redis-server in ${pod.namespace}`, async () => {
      if (redis.exitCode !== null) throw new Error(`redis-server in ${pod.namespace} exited ${redis.exitCode}`);
      return (await run(redisCli, ['-p', String(redisPort), 'PING'])).stdout.trim() === 'PONG' ? true : undefined;
    });
    // A network namespace of the pod's own: network_stats reports it with the pod's uid.
    const netnsHolder = pod.spawn('unshare', ['--net', 'sleep', '600'], { stdio: 'ignore' });
    return { pod, server, redis, netnsHolder, port, redisPort, curls: [], redisClients: [] };
  }

  /** One SET from a redis-cli in the pod; returns its pid. */
  async function redisRequest(p: PodProcesses): Promise<number> {
    const child = p.pod.spawn(redisCli, ['-p', String(p.redisPort), 'SET', 'scope', p.pod.namespace], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 0, `redis-cli in ${p.pod.namespace}`);
    assert.equal(out.trim(), 'OK');
    p.redisClients.push(child.pid!);
    return child.pid!;
  }

  async function requests(p: PodProcesses): Promise<number[]> {
    const pids: number[] = [];
    for (let i = 0; i < REQUESTS; i++) {
      const child = p.pod.spawn(curl, ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${p.port}/json?i=${i}`], { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      assert.equal(code, 0, `curl in ${p.pod.namespace}`);
      assert.equal(out, '200');
      pids.push(child.pid!);
    }
    p.curls.push(...pids);
    return pids;
  }

  const pidsOf = (p: PodProcesses): Set<number> => new Set([p.server.pid!, p.redis.pid!, p.netnsHolder.pid!, ...p.curls, ...p.redisClients]);

  /** Rows of `table` whose process is one of `pids`, or whose namespace is `namespace`. */
  const rowsOf = (rows: readonly Row[], pids: ReadonlySet<number>, namespace: string): Row[] =>
    rows.filter((r) => pids.has(Number(r['pid'])) || r['namespace'] === namespace);

  async function droppedByNamespace(): Promise<number> {
    return metric(await (await fetch(`${agentUrl}/metrics`)).text(), 'wisp_agent_records_dropped_total', 'namespace_excluded');
  }

  before(async () => {
    requireRoot('the eBPF agent and cgroup placement');
    requireBuilt();
    curl = requireCommand('curl', 'curl');
    requireCommand('unshare', 'util-linux');
    redisServer = requireCommand('redis-server', 'redis-server');
    redisCli = requireCommand('redis-cli', 'redis-tools');
    kubeconfig = (await ensureTestbed()).kubeconfig;
    for (const ns of [NS_A, NS_B, SYSTEM]) {
      await deleteNamespaceWithFakePods(ns, true);
      await kubectlOk(['create', 'namespace', ns]);
    }
    await ensureNode(NODE);
    // The pods' cgroups exist before the agent starts: its first cgroup scan knows them.
    pods.push(await createFakePod({ namespace: NS_A, name: 'web', node: NODE, ip: '10.244.19.10' }));
    pods.push(await createFakePod({ namespace: NS_B, name: 'web', node: NODE, ip: '10.244.19.11' }));
    await kubectlOk(['apply', '-f', '-'], { input: planConfigMap('exclude-b', { include: [], exclude: [NS_B] }) });

    const agentPort = await freePort();
    agentUrl = `http://127.0.0.1:${agentPort}`;
    agent = spawn(WISP, ['agent', '--node-name', NODE, '--kubeconfig', kubeconfig, '-n', SYSTEM, '--listen', `127.0.0.1:${agentPort}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    agent.stderr!.on('data', (d: Buffer) => { agentLog = (agentLog + d.toString()).slice(-4000); });
    await waitFor('the agent applying plan exclude-b', async () => {
      if (agent!.exitCode !== null) throw new Error(`agent exited: ${agentLog}`);
      return await appliedPlanVersion() === 'exclude-b' ? true : undefined;
    }, 30_000);
    a = await startPod(pods[0]!);
    b = await startPod(pods[1]!);
    // The pod watch has both pods before traffic starts (a process of a pod not yet seen counts as outside pods).
    await waitFor('the agent knowing both pods', async () => {
      const rows = await query(`import px
df = px.DataFrame(table='process_stats', start_time='-5m')
df = df.head(1)
df.a = px.pod_id_to_pod_name('${a!.pod.uid}')
df.b = px.pod_id_to_pod_name('${b!.pod.uid}')
px.display(df[['a', 'b']], 'rows')
`);
      return rows[0]?.['a'] === `${NS_A}/web` && rows[0]?.['b'] === `${NS_B}/web` ? true : undefined;
    }, 30_000);
  });

  after(async () => {
    for (const p of [a, b]) {
      await stop(p?.server);
      await stop(p?.redis);
      await stop(p?.netnsHolder);
    }
    await stop(agent);
    for (const pod of pods) pod.removeCgroup();
    for (const ns of [NS_A, NS_B, SYSTEM]) await deleteNamespaceWithFakePods(ns, false);
    await deleteNodes([NODE]);
  });

  /** Waits until every stats table shows `kept`'s rows (its HTTP exchanges and closed connections complete), then returns all rows. */
  async function rowsOnceKept(kept: PodProcesses, newCurls: readonly number[], newRedisClient: number): Promise<Record<string, Row[]>> {
    const keptPids = pidsOf(kept);
    let missing = '';
    const waiting = (what: string): undefined => { missing = what; return undefined; };
    return waitFor(`rows of ${kept.pod.namespace} in every table`, async () => {
      const tables = {
        http_events: await processRows('http_events', true),
        redis_events: await processRows('redis_events', true),
        conn_stats: await processRows('conn_stats', true),
        process_stats: await processRows('process_stats', false),
        proc_exit_events: await processRows('proc_exit_events', false),
        network_stats: await podRows(),
      };
      const http = rowsOf(tables.http_events, keptPids, kept.pod.namespace);
      const newClientRows = http.filter((r) => r['trace_role'] === 1 && newCurls.includes(Number(r['pid'])));
      if (newClientRows.length < newCurls.length) return waiting('http_events client rows');
      if (!tables.redis_events.some((r) => r['trace_role'] === 1 && Number(r['pid']) === newRedisClient)) return waiting('redis_events client row');
      // Every new curl's connection closed, on both sides (cumulative conn_close per endpoint).
      const closes = rowsOf(tables.conn_stats, keptPids, kept.pod.namespace).filter((r) => Number(r['conn_close']) === 1);
      const closedClients = new Set(closes.filter((r) => r['trace_role'] === 1).map((r) => Number(r['pid'])));
      if (!newCurls.every((pid) => closedClients.has(pid))) return waiting('conn_stats client closes');
      if (closes.filter((r) => r['trace_role'] === 2 && Number(r['pid']) === kept.server.pid).length < newCurls.length) return waiting('conn_stats server closes');
      const sampled = new Set(rowsOf(tables.process_stats, keptPids, kept.pod.namespace).map((r) => Number(r['pid'])));
      if (!sampled.has(kept.server.pid!) || !sampled.has(kept.netnsHolder.pid!)) return waiting('process_stats rows');
      const exited = new Set(tables.proc_exit_events.map((r) => Number(r['pid'])));
      if (!newCurls.every((pid) => exited.has(pid))) return waiting('proc_exit_events rows');
      if (!tables.network_stats.some((r) => r['pod_id'] === kept.pod.uid)) return waiting('network_stats rows');
      return tables;
    }, STATS_WAIT_MS).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; still missing: ${missing}`, { cause: error });
    });
  }

  let excludedAtFlip = 0;
  let countsOfAAtFlip: Record<string, number> = {};

  it(`with exclude=[${NS_B}], stores rows of ${NS_A}'s pod in every table and none of ${NS_B}'s, and counts the drops`, async () => {
    const curlsA = await requests(a!);
    const curlsB = await requests(b!);
    const redisA = await redisRequest(a!);
    await redisRequest(b!);
    const tables = await rowsOnceKept(a!, curlsA, redisA);
    const http = rowsOf(tables.http_events!, pidsOf(a!), NS_A);
    assert.deepEqual(
      http.map((r) => `${String(r['namespace'])} ${Number(r['trace_role'])} ${Number(r['pid'])}`).sort(),
      [...curlsA.map((pid) => `${NS_A} 1 ${pid}`), ...curlsA.map(() => `${NS_A} 2 ${a!.server.pid}`)].sort(),
      'one client row per curl and one server row per request, all of namespace A',
    );
    assert.deepEqual(
      rowsOf(tables.redis_events!, pidsOf(a!), NS_A).filter((r) => r['req_cmd'] === 'SET').map((r) => `${String(r['namespace'])} ${Number(r['trace_role'])} ${Number(r['pid'])}`).sort(),
      [`${NS_A} 1 ${redisA}`, `${NS_A} 2 ${a!.redis.pid}`],
      'the SET on both sides (the readiness PING from the host is a row too)',
    );
    assert.deepEqual(new Set(tables.proc_exit_events!.filter((r) => curlsA.includes(Number(r['pid']))).map((r) => r['namespace'])), new Set([NS_A]));
    for (const [name, rows] of Object.entries(tables)) {
      const ofB = name === 'network_stats' ? rows.filter((r) => r['pod_id'] === b!.pod.uid) : rowsOf(rows, pidsOf(b!), NS_B);
      assert.deepEqual(ofB, [], `${name} holds rows of ${NS_B} (curls ${curlsB.join(', ')})`);
    }
    excludedAtFlip = await droppedByNamespace();
    // At least B's 6 http rows, 2 redis rows and 4 proc_exit rows, besides its conn_stats, process_stats and network_stats rows.
    assert.ok(excludedAtFlip >= 2 * REQUESTS + 2 + REQUESTS + 1, `records_dropped.namespace_excluded = ${excludedAtFlip}`);
  });

  it(`with include=[${NS_B}] applied live, stores rows of ${NS_B}'s new traffic and no new row of ${NS_A}`, async () => {
    await kubectlOk(['apply', '-f', '-'], { input: planConfigMap('include-b', { include: [NS_B], exclude: [] }) });
    await waitFor('the agent applying plan include-b', async () => (await appliedPlanVersion() === 'include-b' ? true : undefined), 30_000);
    const countA = async (): Promise<Record<string, number>> => ({
      http_events: rowsOf(await processRows('http_events', true), pidsOf(a!), NS_A).length,
      redis_events: rowsOf(await processRows('redis_events', true), pidsOf(a!), NS_A).length,
      conn_stats: rowsOf(await processRows('conn_stats', true), pidsOf(a!), NS_A).length,
      process_stats: rowsOf(await processRows('process_stats', false), pidsOf(a!), NS_A).length,
      proc_exit_events: rowsOf(await processRows('proc_exit_events', false), pidsOf(a!), NS_A).length,
      network_stats: (await podRows()).filter((r) => r['pod_id'] === a!.pod.uid).length,
    });
    // Counted after the Lease names the new plan: every row written from here on was judged by it.
    countsOfAAtFlip = await countA();
    const dropsBefore = await droppedByNamespace();
    assert.ok(dropsBefore >= excludedAtFlip);
    const curlsA = await requests(a!);
    const curlsB = await requests(b!);
    const redisA = await redisRequest(a!);
    const redisB = await redisRequest(b!);
    const tables = await rowsOnceKept(b!, curlsB, redisB);
    const http = rowsOf(tables.http_events!, pidsOf(b!), NS_B);
    assert.deepEqual(
      http.map((r) => `${String(r['namespace'])} ${Number(r['trace_role'])} ${Number(r['pid'])}`).sort(),
      [...curlsB.map((pid) => `${NS_B} 1 ${pid}`), ...curlsB.map(() => `${NS_B} 2 ${b!.server.pid}`)].sort(),
      'B\'s rows are those of the traffic after the switch only',
    );
    assert.deepEqual(
      rowsOf(tables.redis_events!, pidsOf(b!), NS_B).filter((r) => r['req_cmd'] === 'SET').map((r) => `${String(r['namespace'])} ${Number(r['trace_role'])} ${Number(r['pid'])}`).sort(),
      [`${NS_B} 1 ${redisB}`, `${NS_B} 2 ${b!.redis.pid}`],
    );
    assert.ok(tables.network_stats!.some((r) => r['pod_id'] === b!.pod.uid));
    // A's rows stay what they were at the switch (a full sample round has passed for every table).
    assert.deepEqual(await countA(), countsOfAAtFlip);
    for (const [name, rows] of Object.entries(tables)) {
      if (name === 'network_stats') continue;
      assert.deepEqual(rows.filter((r) => [...curlsA, redisA].includes(Number(r['pid']))), [], `${name} holds rows of ${NS_A}'s new clients`);
    }
    const dropsAfter = await droppedByNamespace();
    assert.ok(dropsAfter >= dropsBefore + 2 * REQUESTS + 2 + REQUESTS + 1, `namespace_excluded ${dropsBefore} → ${dropsAfter}`);
  });
});
