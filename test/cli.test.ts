// The wisp command's contract on bad input: a non-zero exit and one line on stderr.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { tableFromIPC } from 'apache-arrow';
import { after, before, describe, it } from 'mocha';
import { AgentProcess } from './support/agent.ts';
import { freePort, requireBuilt, requireCommand, requireRoot, run, WISP } from './support/processes.ts';

describe('wisp CLI on bad input', function () {
  this.timeout(60_000);

  it('refuses to run an agent without the privileges it needs, naming them in one line', async () => {
    requireRoot('dropping privileges with setpriv');
    requireBuilt();
    const setpriv = requireCommand('setpriv', 'util-linux');
    const port = await freePort();
    // Root without any capability: what a container without CAP_BPF/CAP_PERFMON looks like.
    const result = await run(setpriv, ['--bounding-set=-all', '--inh-caps=-all', WISP, 'agent', '--standalone', '--listen', `127.0.0.1:${port}`]);
    assert.notEqual(result.code, 0);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /^wisp agent: missing privileges: CAP_BPF, CAP_PERFMON/);
  });

  it('refuses a standalone agent on a non-loopback address', async () => {
    requireRoot('the agent');
    const result = await run(WISP, ['agent', '--standalone', '--listen', '0.0.0.0:7999']);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr.trim(), /^wisp agent: standalone agents bind loopback only/);
  });

  it('says in one line when the agent cannot be reached', async () => {
    requireBuilt();
    const port = await freePort();
    const result = await run(WISP, ['run', '--server', `http://127.0.0.1:${port}`, '-'], { input: 'import px\n' });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^wisp run: cannot reach agent at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED\n$/);
  });

  describe('with an agent running', () => {
    let agent: AgentProcess;
    before(async () => { agent = await AgentProcess.start(); });
    after(async () => { await agent?.stop(); });

    it('reports a syntax error with line and column', async () => {
      const result = await run(WISP, ['run', '--server', agent.server, '-'], { input: 'import px\ndf = px.DataFrame(table="http_events"\npx.display(df)\n' });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /^wisp run: \d+:\d+: .+\n$/);
    });

    it('reports an unknown column with its position', async () => {
      const result = await run(WISP, ['run', '--server', agent.server, '-'], { input: "import px\ndf = px.DataFrame(table='http_events')\ndf = df[df.no_such_column == 1]\npx.display(df)\n" });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /^wisp run: 3:\d+: .*no_such_column.*\n$/);
    });

    it('writes one output as an Arrow IPC stream with -o arrow, keeping column types', async () => {
      const script = "import px\ndf = px.DataFrame(table='http_events', start_time='-5m')\npx.display(df[['time_', 'req_path', 'resp_status']].head(5), 'recent')\n";
      const child = spawn(WISP, ['run', '--server', agent.server, '-o', 'arrow', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
      const chunks: Buffer[] = [];
      child.stdout.on('data', (d: Buffer) => chunks.push(d));
      child.stdin.end(script);
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      assert.equal(code, 0);
      const table = tableFromIPC(Buffer.concat(chunks));
      assert.deepEqual(table.schema.fields.map((f) => [f.name, String(f.type)]), [
        ['time_', 'Timestamp<NANOSECOND>'], ['req_path', 'Utf8'], ['resp_status', 'Int64'],
      ]);
    });

    it('asks which output to write when a script displays several as Arrow', async () => {
      const script = "import px\ndf = px.DataFrame(table='http_events')\npx.display(df, 'a')\npx.display(df, 'b')\n";
      const result = await run(WISP, ['run', '--server', agent.server, '-o', 'arrow', '-'], { input: script });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /^wisp run: the script has 2 outputs; pick one of: a, b\n$/);
    });

    it('reports the agent serving, its tables and whether anything was dropped', async () => {
      const result = await run(WISP, ['status', '--server', agent.server]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^agent http:\/\/127\.0\.0\.1:\d+: serving\n/);
      assert.match(result.stdout, /^http_events\s+\d+/m);
      assert.match(result.stdout, /\n(no drops|non-zero drop and error counters:)\n/);
    });

    it('lists http_events with its columns', async () => {
      const result = await run(WISP, ['tables', '--server', agent.server, '-o', 'json']);
      assert.equal(result.code, 0, result.stderr);
      const tables = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as { name: string; columns: { name: string }[] });
      const http = tables.find((t) => t.name === 'http_events');
      assert.ok(http);
      assert.deepEqual(http.columns.map((c) => c.name), ['time_', 'upid', 'remote_addr', 'remote_port', 'local_addr', 'local_port', 'trace_role',
        'encrypted', 'major_version', 'minor_version', 'content_type', 'req_headers', 'req_method', 'req_path', 'req_body', 'req_body_size',
        'resp_headers', 'resp_status', 'resp_message', 'resp_body', 'resp_body_size', 'latency']);
    });
  });
});
