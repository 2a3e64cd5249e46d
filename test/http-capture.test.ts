// Real traffic through a real agent: nginx and a Node http server, curl and
// a Node client, captured with eBPF and read back with `wisp run -o json`.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'mocha';
import { AgentProcess } from './support/agent.ts';
import { NginxProcess } from './support/nginx.ts';
import { requireCommand, ROOT, run, stop, waitFor } from './support/processes.ts';

type Row = Record<string, unknown>;

const COLUMNS = `['req_method', 'req_path', 'resp_status', 'resp_message', 'req_body', 'req_body_size', 'resp_body', 'resp_body_size',
  'latency', 'trace_role', 'local_port', 'remote_port', 'major_version', 'minor_version', 'req_headers', 'resp_headers', 'time_']`;

/** Rows of http_events whose server side is `port`, as the server (role 2) or a client (role 1) saw them. */
function rowsForPort(port: number): string {
  return `import px
df = px.DataFrame(table='http_events', start_time='-5m')
df = df[((df.trace_role == 2) & (df.local_port == ${port})) | ((df.trace_role == 1) & (df.remote_port == ${port}))]
px.display(df[${COLUMNS}], 'rows')
`;
}

function summarize(rows: readonly Row[]): string[] {
  return rows.map((r) => `${r.trace_role === 2 ? 'server' : 'client'} ${r.req_method} ${r.req_path} ${r.resp_status}`).sort();
}

async function waitForRows(agent: AgentProcess, port: number, count: number): Promise<Row[]> {
  return waitFor(`${count} http_events rows for port ${port}`, async () => {
    const rows = await agent.query(rowsForPort(port));
    return rows.length >= count ? rows : undefined;
  });
}

describe('HTTP/1.x capture (root, eBPF, real servers)', function () {
  this.timeout(120_000);
  let agent: AgentProcess;

  before(async () => {
    agent = await AgentProcess.start();
  });
  after(async () => {
    await agent?.stop();
  });

  describe('nginx with curl', () => {
    let nginx: NginxProcess;
    const index = '<html>hello from nginx: a small static page</html>\n';
    const big = 'x'.repeat(100_000);
    before(async () => {
      nginx = await NginxProcess.start({ 'index.html': index, 'big.txt': big });
    });
    after(async () => { await nginx?.stop(); });

    it('records one row per request on each traced side with method, path, status, sizes and latency', async () => {
      const curl = requireCommand('curl', 'curl');
      const base = `http://127.0.0.1:${nginx.port}`;
      // Three requests over one keep-alive connection, then a HEAD and a POST.
      const get = await run(curl, ['-sS', '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null', `${base}/index.html`, `${base}/missing`, `${base}/big.txt`]);
      assert.equal(get.code, 0, get.stderr);
      assert.equal((await run(curl, ['-sS', '-I', '-o', '/dev/null', `${base}/index.html`])).code, 0);
      assert.equal((await run(curl, ['-sS', '-o', '/dev/null', '-X', 'POST', '--data-binary', 'hello=world', `${base}/echo-status`])).code, 0);

      const rows = await waitForRows(agent, nginx.port, 10);
      await new Promise((r) => setTimeout(r, 1500));
      const settled = await agent.query(rowsForPort(nginx.port));
      const readiness = settled.filter((r) => r.req_path !== '/no-content');
      assert.deepEqual(summarize(readiness), [
        'client GET /big.txt 200', 'client GET /index.html 200', 'client GET /missing 404',
        'client HEAD /index.html 200', 'client POST /echo-status 418',
        'server GET /big.txt 200', 'server GET /index.html 200', 'server GET /missing 404',
        'server HEAD /index.html 200', 'server POST /echo-status 418',
      ], `rows: ${JSON.stringify(rows.slice(0, 3))}`);

      for (const row of readiness) {
        assert.ok((row.latency as number) > 0, `latency of ${row.req_path}`);
        assert.equal(row.major_version, 1);
        assert.equal(row.minor_version, 1);
        if (row.trace_role === 2) assert.equal(row.local_port, nginx.port);
        else assert.equal(row.remote_port, nginx.port);
        assert.match(row.time_ as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
      }
      const find = (role: number, method: string, path: string): Row => readiness.find((r) => r.trace_role === role && r.req_method === method && r.req_path === path)!;
      for (const role of [1, 2]) {
        assert.equal(find(role, 'GET', '/index.html').resp_body_size, index.length);
        // nginx sends files with sendfile(2): the server side sees the size, not the bytes.
        assert.equal(find(role, 'GET', '/index.html').resp_body, role === 1 ? index : '');
        assert.equal(find(role, 'GET', '/big.txt').resp_body_size, 100_000);
        assert.equal(find(role, 'HEAD', '/index.html').resp_body_size, 0, 'HEAD has no body');
        const post = find(role, 'POST', '/echo-status');
        assert.equal(post.req_body, 'hello=world');
        assert.equal(post.req_body_size, 11);
        assert.equal(post.resp_body, 'teapot\n');
        assert.equal(JSON.parse(find(role, 'GET', '/missing').req_headers as string).Host, `127.0.0.1:${nginx.port}`);
      }
      // curl reads the big body, so the client side captured its first 512 bytes; the real size is kept.
      assert.equal(find(1, 'GET', '/big.txt').resp_body, 'x'.repeat(512));
      assert.equal(JSON.parse(find(2, 'GET', '/big.txt').resp_headers as string)['Content-Length'], '100000');
    });
  });

  describe('a Node http server with a Node client', () => {
    let server: ChildProcess;
    let port: number;
    before(async () => {
      server = spawn(process.execPath, [join(ROOT, 'test', 'fixtures', 'http-server.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
      port = Number(await new Promise<string>((resolve) => server.stdout!.once('data', (d: Buffer) => resolve(d.toString()))));
    });
    after(async () => { await stop(server); });

    it('follows keep-alive, chunked responses, cut bodies and pipelining', async () => {
      const client = await run(process.execPath, [join(ROOT, 'test', 'fixtures', 'http-client.mjs'), String(port)]);
      assert.equal(client.code, 0, client.stderr);
      const curl = requireCommand('curl', 'curl');
      const expect = await run(curl, ['-sS', '-o', '/dev/null', '-H', 'Expect: 100-continue', '--data-binary', 'e'.repeat(3000), `http://127.0.0.1:${port}/upload`]);
      assert.equal(expect.code, 0, expect.stderr);

      await waitForRows(agent, port, 12);
      await new Promise((r) => setTimeout(r, 1500));
      const rows = await agent.query(rowsForPort(port));
      assert.deepEqual(summarize(rows), [
        'client GET /chunked 200', 'client GET /json?x=1 200', 'client GET /pipelined-1 404', 'client GET /pipelined-2 404',
        'client POST /upload 200', 'client POST /upload 200',
        'server GET /chunked 200', 'server GET /json?x=1 200', 'server GET /pipelined-1 404', 'server GET /pipelined-2 404',
        'server POST /upload 200', 'server POST /upload 200',
      ]);
      for (const role of [1, 2]) {
        const chunked = rows.find((r) => r.trace_role === role && r.req_path === '/chunked')!;
        assert.equal(chunked.resp_body, 'alpha\nbeta\ngamma\n');
        assert.equal(chunked.resp_body_size, 17);
        assert.ok((chunked.latency as number) >= 10_000_000, 'the chunked response took two 5 ms pauses');
        const uploads = rows.filter((r) => r.trace_role === role && r.req_path === '/upload').sort((a, b) => (a.req_body_size as number) - (b.req_body_size as number));
        assert.deepEqual(uploads.map((r) => [r.req_body_size, (r.req_body as string).length, r.resp_body]),
          [[2000, 512, '{"received":2000}'], [3000, 512, '{"received":3000}']]);
        assert.equal(JSON.parse(uploads[1]!.req_headers as string).Expect, '100-continue');
      }
    });
  });
});
