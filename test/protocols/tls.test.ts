// TLS plaintext through a real agent: nginx serving HTTPS with a self-signed
// certificate made by the test, queried by curl -k, both linking the host's
// libssl.so.3. The agent's uprobes on SSL_read/SSL_write give the plaintext;
// the rows must be the exact HTTP exchanges with encrypted = true, on both
// sides, and nothing decoded from the ciphertext. nginx runs before the agent
// starts (a process already mapping libssl); every curl starts after it (a
// process the agent never saw start: the shared-library uprobe covers it).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'mocha';
import { AgentProcess } from '../support/agent.ts';
import { NginxProcess } from '../support/nginx.ts';
import { requireCommand, ROOT, run, sleep, stop, tempDir, waitFor } from '../support/processes.ts';

type Row = Record<string, unknown>;

const LIBDIR = '/usr/lib/x86_64-linux-gnu';
const LIBSSL = `${LIBDIR}/libssl.so.3`;

/** The value of the agent's tls_targets_attached counter. */
async function targetsAttached(agent: AgentProcess): Promise<number> {
  const m = /tls_targets_attached\S* (\d+)/.exec(await agent.metrics());
  if (!m) throw new Error('the agent reports no tls_targets_attached counter');
  return Number(m[1]);
}

/**
 * Builds test/fixtures/tls-static-client.c against OpenSSL's static archives
 * (Debian libssl-dev): SSL_read/SSL_write are in the executable itself.
 */
async function buildStaticClient(): Promise<string> {
  const cc = requireCommand('cc', 'gcc');
  for (const a of ['libssl.a', 'libcrypto.a']) {
    if (!existsSync(join(LIBDIR, a))) throw new Error(`the static TLS client needs ${LIBDIR}/${a} (Debian libssl-dev)`);
  }
  const out = join(tempDir('tls-client'), 'tls-static-client');
  const built = await run(cc, ['-O1', '-o', out, join(ROOT, 'test', 'fixtures', 'tls-static-client.c'),
    join(LIBDIR, 'libssl.a'), join(LIBDIR, 'libcrypto.a'), '-lpthread', '-ldl']);
  if (built.code !== 0) throw new Error(`build the static TLS client: cc exited ${built.code}: ${built.stderr.trim()}`);
  return out;
}

function rowsScript(port: number): string {
  return `import px
df = px.DataFrame(table='http_events', start_time='-5m')
df = df[((df.trace_role == 2) & (df.local_port == ${port})) | ((df.trace_role == 1) & (df.remote_port == ${port}))]
px.display(df[['time_', 'req_method', 'req_path', 'resp_status', 'resp_body', 'latency', 'encrypted', 'trace_role', 'local_port', 'remote_port', 'major_version', 'minor_version']], 'rows')
`;
}

const line = (r: Row): string => `${r.req_method as string} ${r.req_path as string} ${String(r.resp_status)} ${JSON.stringify(r.resp_body)}`;

describe('TLS capture via OpenSSL uprobes (root, eBPF, real nginx and curl)', function () {
  this.timeout(120_000);
  let nginx: NginxProcess;
  let agent: AgentProcess;
  let curl: string;

  before(async () => {
    if (!existsSync(LIBSSL)) throw new Error(`TLS capture test needs ${LIBSSL} (Debian libssl3)`);
    curl = requireCommand('curl', 'curl');
    nginx = await NginxProcess.start({ 'hello.txt': 'hello over tls\n', 'data.json': '{"ok":true}\n' }, { tls: true });
    agent = await AgentProcess.start();
  });
  after(async () => {
    await agent?.stop();
    await nginx?.stop();
  });

  it('records the exact HTTP exchanges of a keep-alive connection and a second one on both sides, encrypted', async () => {
    const base = `https://127.0.0.1:${nginx.port}`;
    // One curl, one connection (keep-alive), three requests in order.
    const first = await run(curl, ['-k', '-s', '--http1.1', '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null', '-w', '%{http_code} %{num_connects}\n',
      `${base}/hello.txt`, `${base}/data.json`, `${base}/missing`]);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(first.stdout.trim().split('\n'), ['200 1', '200 0', '404 0'], 'curl reused its connection');
    // A second process and connection: a POST nginx refuses on a static file.
    const second = await run(curl, ['-k', '-s', '--http1.1', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'POST', '--data', 'a=1', `${base}/echo-status`]);
    assert.equal(second.stdout, '418');

    const expected = [
      'GET /hello.txt 200 "hello over tls\\n"',
      'GET /data.json 200 "{\\"ok\\":true}\\n"',
      'GET /missing 404',
      'POST /echo-status 418 "teapot\\n"',
    ];
    const rows = await waitFor('http_events rows of both sides', async () => {
      const found = await agent.query(rowsScript(nginx.port));
      return found.length >= 2 * expected.length ? found : undefined;
    }, 20_000);
    await sleep(1500); // anything decoded from ciphertext would arrive by now
    const all = await agent.query(rowsScript(nginx.port));
    assert.equal(all.length, 2 * expected.length, `exactly the exchanges, no rows from ciphertext: ${JSON.stringify(all.map(line))}`);
    assert.ok(rows.length <= all.length);
    for (const role of [1, 2]) {
      const side = all.filter((r) => r.trace_role === role).sort((a, b) => String(a.time_).localeCompare(String(b.time_)));
      const lines = side.map(line);
      // The 404 body is nginx's HTML page: compare its head only.
      assert.deepEqual(lines.map((l) => (l.startsWith('GET /missing 404') ? 'GET /missing 404' : l)), expected, `trace_role ${role}`);
      for (const r of side) {
        assert.equal(r.encrypted, true, `encrypted of ${line(r)}`);
        assert.ok((r.latency as number) > 0, `latency of ${line(r)}`);
        assert.equal(r.major_version, 1);
        assert.equal(r.minor_version, 1);
        assert.equal(role === 2 ? r.local_port : r.remote_port, nginx.port);
      }
    }
    const metrics = await agent.metrics();
    assert.match(metrics, /tls_targets_attached\S* [1-9]/, 'the agent attached its TLS probes');
  });

  it('finds OpenSSL linked into an executable started after the agent, and records its exchanges', async () => {
    const client = await buildStaticClient();
    const before = await targetsAttached(agent);
    let child: ChildProcess | undefined;
    try {
      child = spawn(client, [String(nginx.port), '/hello.txt', '/data.json', '/missing'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
      child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
      const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
      await waitFor('the static client to start', () => (stdout.startsWith('ready\n') ? true : undefined));
      // The agent's periodic process scan finds SSL_write in the new executable.
      await waitFor('the agent to attach its TLS probes to the new executable', async () => ((await targetsAttached(agent)) > before ? true : undefined), 10_000);
      child.stdin!.end('go\n');
      const code = await exited;
      assert.equal(code, 0, `static client: ${stderr}`);
      const [, localPort, ...statuses] = stdout.trim().split('\n');
      assert.deepEqual(statuses, ['200', '200', '404']);

      const script = `import px
df = px.DataFrame(table='http_events', start_time='-5m')
df = df[(df.trace_role == 1) & (df.local_port == ${Number(localPort)})]
px.display(df[['time_', 'req_method', 'req_path', 'resp_status', 'encrypted', 'latency', 'req_headers']], 'rows')
`;
      const rows = await waitFor('client-side rows of the static client', async () => {
        const found = await agent.query(script);
        return found.length >= 3 ? found : undefined;
      }, 20_000);
      await sleep(1000);
      const all = (await agent.query(script)).sort((a, b) => String(a.time_).localeCompare(String(b.time_)));
      assert.equal(all.length, rows.length);
      assert.deepEqual(all.map((r) => `${r.req_method as string} ${r.req_path as string} ${String(r.resp_status)}`),
        ['GET /hello.txt 200', 'GET /data.json 200', 'GET /missing 404']);
      for (const r of all) {
        assert.equal(r.encrypted, true);
        assert.ok((r.latency as number) > 0);
        assert.match(r.req_headers as string, /tls-static-client/);
      }
    } finally {
      await stop(child);
    }
  });
});

describe('TLS capture with the tls source off (root, eBPF, real nginx and curl)', function () {
  this.timeout(120_000);
  let nginx: NginxProcess;
  let agent: AgentProcess;

  before(async () => {
    nginx = await NginxProcess.start({ 'hello.txt': 'hello over tls\n' }, { tls: true });
    agent = await AgentProcess.start(['--sources', 'http,conn']);
  });
  after(async () => {
    await agent?.stop();
    await nginx?.stop();
  });

  it('attaches no uprobe and stores no rows of HTTPS traffic, while plain HTTP is still recorded', async () => {
    const curl = requireCommand('curl', 'curl');
    const tls = await run(curl, ['-k', '-s', '--http1.1', '-o', '/dev/null', '-w', '%{http_code}', `https://127.0.0.1:${nginx.port}/hello.txt`]);
    assert.equal(tls.stdout, '200', tls.stderr);
    const plain = await NginxProcess.start({ 'plain.txt': 'plain\n' });
    try {
      const res = await run(curl, ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${plain.port}/plain.txt`]);
      assert.equal(res.stdout, '200');
      const plainRows = async (): Promise<Row[]> => (await agent.query(rowsScript(plain.port))).filter((r) => r.req_path === '/plain.txt');
      await waitFor('the plain HTTP rows of both sides (the agent is capturing)', async () => ((await plainRows()).length === 2 ? true : undefined), 20_000);
    } finally {
      await plain.stop();
    }
    assert.deepEqual(await agent.query(rowsScript(nginx.port)), []);
    const metrics = await agent.metrics();
    assert.match(metrics, /tls_targets_attached\S* 0$/m);
    assert.match(metrics, /^wisp_kernel_tlsTargets\S* 0$/m);
  });
});
