// Real HTTP/2 and gRPC through a real agent: Node's http2 (h2c with prior
// knowledge) and @grpc/grpc-js over insecure credentials, server and client
// in their own processes, both traced with eBPF, read back with `wisp run`.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'mocha';
import { AgentProcess } from '../support/agent.ts';
import { ROOT, run, sleep, stop, waitFor } from '../support/processes.ts';

type Row = Record<string, unknown>;

const COLUMNS = `['req_method', 'req_path', 'resp_status', 'resp_message', 'req_body', 'req_body_size', 'resp_body', 'resp_body_size',
  'latency', 'trace_role', 'local_port', 'remote_port', 'major_version', 'minor_version', 'content_type', 'req_headers', 'resp_headers']`;

/** HTTP/2 rows of http_events whose server side is `port`, as the server (role 2) or a client (role 1) saw them. */
function rowsForPort(port: number): string {
  return `import px
df = px.DataFrame(table='http_events', start_time='-5m')
df = df[df.major_version == 2]
df = df[((df.trace_role == 2) & (df.local_port == ${port})) | ((df.trace_role == 1) & (df.remote_port == ${port}))]
px.display(df[${COLUMNS}], 'rows')
`;
}

const summarize = (rows: readonly Row[]): string[] =>
  rows.map((r) => `${r.trace_role === 2 ? 'server' : 'client'} ${r.req_method} ${r.req_path} ${r.resp_status} ${r.resp_message}`).sort();

/** Waits for `count` rows, then a little longer to be sure no extra rows follow. */
async function settledRows(agent: AgentProcess, port: number, count: number): Promise<Row[]> {
  await waitFor(`${count} HTTP/2 rows for port ${port}`, async () => {
    const rows = await agent.query(rowsForPort(port));
    return rows.length >= count ? rows : undefined;
  }, 30_000);
  await sleep(1500);
  return agent.query(rowsForPort(port));
}

async function startServer(args: readonly string[]): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], cwd: ROOT });
  const port = Number(await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`server ${args.join(' ')} exited ${code}`)));
    child.stdout!.once('data', (d: Buffer) => resolve(d.toString()));
  }));
  return { child, port };
}

describe('HTTP/2 and gRPC capture (root, eBPF, real servers)', function () {
  this.timeout(120_000);
  let agent: AgentProcess;

  before(async () => {
    agent = await AgentProcess.start();
  });
  after(async () => {
    await agent?.stop();
  });

  describe('a Node http2 server with a Node http2 client', () => {
    let server: { child: ChildProcess; port: number };
    before(async () => { server = await startServer([join(ROOT, 'test', 'fixtures', 'h2-server.mjs')]); });
    after(async () => { await stop(server?.child); });

    it('records concurrent streams of one connection, a POST body and headers split over CONTINUATION, on both sides', async () => {
      const client = await run(process.execPath, [join(ROOT, 'test', 'fixtures', 'h2-client.mjs'), String(server.port)]);
      assert.equal(client.code, 0, client.stderr);
      const rows = await settledRows(agent, server.port, 10);
      assert.deepEqual(summarize(rows), [
        'client GET /h2/alpha 200 OK', 'client GET /h2/json?x=1 200 OK', 'client GET /h2/large 200 OK', 'client GET /h2/missing 404 Not Found',
        'client POST /h2/echo 200 OK',
        'server GET /h2/alpha 200 OK', 'server GET /h2/json?x=1 200 OK', 'server GET /h2/large 200 OK', 'server GET /h2/missing 404 Not Found',
        'server POST /h2/echo 200 OK',
      ], `metrics:\n${(await agent.metrics()).split('\n').filter((l) => l.includes('http2')).join('\n')}`);
      for (const role of [1, 2]) {
        const find = (path: string): Row => rows.find((r) => r.trace_role === role && r.req_path === path)!;
        for (const row of rows.filter((r) => r.trace_role === role)) {
          assert.equal(row.major_version, 2);
          assert.equal(row.minor_version, 0);
          assert.ok((row.latency as number) > 0, `latency of ${row.req_path}`);
          assert.equal(role === 2 ? row.local_port : row.remote_port, server.port);
        }
        // The server answers several streams with one writev of many iovecs: all of them are captured.
        const responseBody = (row: Row, expected: string): void => {
          assert.equal(row.resp_body_size, Buffer.byteLength(expected), `size of ${row.req_path}`);
          assert.equal(row.resp_body, expected, `body of ${row.req_path} (role ${role})`);
        };
        const alpha = find('/h2/alpha');
        responseBody(alpha, 'alpha');
        const reqHeaders = JSON.parse(alpha.req_headers as string) as Record<string, string>;
        assert.equal(reqHeaders[':method'], 'GET');
        assert.equal(reqHeaders[':path'], '/h2/alpha');
        assert.equal(reqHeaders[':authority'], `127.0.0.1:${server.port}`);
        assert.equal(JSON.parse(alpha.resp_headers as string)[':status'], '200');
        assert.equal(find('/h2/json?x=1').content_type, 1);
        responseBody(find('/h2/json?x=1'), '{"x":1}');
        const echo = find('/h2/echo');
        assert.equal(echo.req_body_size, 3000);
        assert.equal(echo.req_body, 'e'.repeat(512));
        responseBody(echo, 'received 3000');
        const large = find('/h2/large');
        assert.equal(JSON.parse(large.req_headers as string)['x-large'], 'z'.repeat(20_000));
        assert.equal(JSON.parse(large.resp_headers as string)['x-big'], 'y'.repeat(20_000));
        responseBody(large, 'large');
        responseBody(find('/h2/missing'), 'nope');
      }
    });
  });

  describe('a @grpc/grpc-js server with a @grpc/grpc-js client', () => {
    const greeter = join(ROOT, 'test', 'fixtures', 'grpc-greeter.mjs');
    let server: { child: ChildProcess; port: number };
    before(async () => { server = await startServer([greeter, 'server']); });
    after(async () => { await stop(server?.child); });

    it('records unary OK, a unary error status and server streaming, with method paths, grpc-status and message sizes', async () => {
      const client = await run(process.execPath, [greeter, 'client', String(server.port)]);
      assert.equal(client.code, 0, client.stderr);
      assert.equal(client.stdout.trim(), '["Hello world","error 5",["n 1","n 2","n 3"]]');
      const rows = await settledRows(agent, server.port, 6);
      assert.deepEqual(summarize(rows), [
        'client POST /wisp.test.Greeter/Count 200 OK', 'client POST /wisp.test.Greeter/Fail 200 NOT_FOUND', 'client POST /wisp.test.Greeter/SayHello 200 OK',
        'server POST /wisp.test.Greeter/Count 200 OK', 'server POST /wisp.test.Greeter/Fail 200 NOT_FOUND', 'server POST /wisp.test.Greeter/SayHello 200 OK',
      ], `metrics:\n${(await agent.metrics()).split('\n').filter((l) => l.includes('http2')).join('\n')}`);
      for (const role of [1, 2]) {
        const find = (method: string): Row => rows.find((r) => r.trace_role === role && r.req_path === `/wisp.test.Greeter/${method}`)!;
        for (const row of rows.filter((r) => r.trace_role === role)) {
          assert.equal(row.content_type, 2, 'gRPC');
          assert.ok((row.latency as number) > 0);
        }
        const hello = find('SayHello');
        // Length prefix (5 bytes) + protobuf field 1 (2 bytes of tag and length) + the text.
        assert.equal(hello.req_body, '{1:"world"}');
        assert.equal(hello.req_body_size, 5 + 2 + 'world'.length);
        assert.equal(hello.resp_body, '{1:"Hello world"}');
        assert.equal(hello.resp_body_size, 5 + 2 + 'Hello world'.length);
        assert.equal(JSON.parse(hello.resp_headers as string)['grpc-status'], '0');
        const failed = JSON.parse(find('Fail').resp_headers as string) as Record<string, string>;
        assert.equal(failed['grpc-status'], '5');
        assert.equal(decodeURIComponent(failed['grpc-message']!), 'no such greeting');
        assert.equal(find('Fail').resp_body_size, 0);
        const count = find('Count');
        assert.equal(count.resp_body, '{1:"n 1"} {1:"n 2"} {1:"n 3"}');
        assert.equal(count.resp_body_size, 3 * (5 + 2 + 3));
      }
    });
  });
});
