// Connections open before the agent started, used with read/write only
// (Node's libuv): the agent lists them from /proc at start and the kernel
// adopts them on their next read or write (src/agent/bpf/open-connections.ts).
// The rows of later requests must be exact, on both sides.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'mocha';
import { AgentProcess } from './support/agent.ts';
import { requireRoot, ROOT, sleep, stop, waitFor } from './support/processes.ts';

type Row = Record<string, unknown>;

describe('connections open before the agent started (root, eBPF, Node keep-alive over read/write)', function () {
  this.timeout(120_000);
  let pair: ChildProcess;
  let agent: AgentProcess;
  let stdout = '';
  let serverPort = 0;
  let clientPort = 0;

  before(async () => {
    requireRoot('the open-connections test');
    pair = spawn(process.execPath, [join(ROOT, 'test', 'fixtures', 'keepalive-pair.ts')], { stdio: ['pipe', 'pipe', 'inherit'] });
    pair.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
    const ready = await waitFor('the keep-alive pair', () => /^ready (\d+) (\d+)$/m.exec(stdout) ?? undefined);
    serverPort = Number(ready[1]);
    clientPort = Number(ready[2]);
    agent = await AgentProcess.start();
  });
  after(async () => {
    await agent?.stop();
    pair?.stdin?.end();
    await stop(pair);
  });

  it('records the requests of a connection opened before start, on both sides, and counts it as watched', async () => {
    pair.stdin!.write('go\n');
    await waitFor('the requests', () => (stdout.includes('done\n') ? true : undefined));
    const script = `import px
df = px.DataFrame(table='http_events', start_time='-5m')
df = df[((df.trace_role == 1) & (df.local_port == ${clientPort})) | ((df.trace_role == 2) & (df.remote_port == ${clientPort}))]
px.display(df[['time_', 'trace_role', 'req_method', 'req_path', 'resp_status', 'resp_body', 'latency', 'remote_port']], 'rows')
`;
    await waitFor('rows of both sides', async () => ((await agent.query(script)).length >= 6 ? true : undefined), 20_000);
    await sleep(1000);
    const rows = await agent.query(script);
    for (const role of [1, 2]) {
      const side = rows.filter((r: Row) => r.trace_role === role).sort((a, b) => String(a.time_).localeCompare(String(b.time_)));
      assert.deepEqual(side.map((r) => `${r.req_method as string} ${r.req_path as string} ${String(r.resp_status)} ${r.resp_body as string}`), [
        'GET /after/1/a 200 path /after/1/a\n',
        'GET /after/1/b 200 path /after/1/b\n',
        'GET /missing 404 path /missing\n',
      ], `trace_role ${role}`);
      for (const r of side) assert.ok((r.latency as number) > 0);
      if (role === 1) assert.ok(side.every((r) => r.remote_port === serverPort));
    }
    const watched = /^wisp_agent_open_connections_watched\S* (\d+)$/m.exec(await agent.metrics());
    assert.ok(watched && Number(watched[1]) >= 2, `both ends were listed at start: ${watched?.[0]}`);
  });
});
