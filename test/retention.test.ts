// DataRetention on one host: a real standalone agent (`wisp agent
// --standalone --config`) capturing real nginx/curl traffic with eBPF, a
// few-second maxAge on http_events and a 2 s rollup, observed only through
// the agent's public surfaces (`wisp run`, `wisp tables`, /metrics).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'mocha';
import { AgentProcess } from './support/agent.ts';
import { NginxProcess } from './support/nginx.ts';
import { freePort, requireCommand, run, sleep, tempDir, waitFor, WISP } from './support/processes.ts';

type Row = Record<string, unknown>;

const MAX_AGE_S = 10;
const ROLLUP = 'http_events_2s';

function retentionYaml(maxAge: string): string {
  return `apiVersion: wisp.dev/v1alpha1
kind: DataRetention
metadata: {name: host-retention}
spec:
  tables:
  - {name: http_events, maxBytes: 32Mi, maxAge: ${maxAge}}
  rollups:
  - name: ${ROLLUP}
    from: http_events
    interval: 2s
    groupBy: [req_path, resp_status, trace_role, local_port, remote_port]
    aggregates: {requests: count, latency: quantiles, errors: errorRate, latency_max: max}
    retain: 1h
`;
}

/** Rows of `table` on either side of nginx on `port`, without the readiness probe's requests. */
function forPort(table: string, port: number, columns: string): string {
  return `import px
df = px.DataFrame(table='${table}', start_time='-30m')
df = df[((df.trace_role == 2) & (df.local_port == ${port})) | ((df.trace_role == 1) & (df.remote_port == ${port}))]
df = df[df.req_path != '/no-content']
px.display(df[${columns}], 'rows')
`;
}

async function tables(agent: AgentProcess): Promise<Row[]> {
  const result = await run(WISP, ['tables', '--server', agent.server, '-o', 'json']);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Row);
}

describe('DataRetention on a standalone agent (root, eBPF, nginx, curl)', function () {
  this.timeout(120_000);
  let agent: AgentProcess;
  let nginx: NginxProcess;
  let configPath: string;

  before(async () => {
    configPath = join(tempDir('retention'), 'retention.yaml');
    writeFileSync(configPath, retentionYaml(`${MAX_AGE_S}s`));
    agent = await AgentProcess.start(['--config', configPath]);
    nginx = await NginxProcess.start({ 'index.html': '<html>retention</html>\n' });
  });
  after(async () => {
    await nginx?.stop();
    await agent?.stop();
  });

  describe('with a burst of real requests', () => {
    let rawCount = 0;
    let burstEndMs = 0;

    before(async () => {
      const curl = requireCommand('curl', 'curl');
      const base = `http://127.0.0.1:${nginx.port}`;
      const urls = [
        ...Array.from({ length: 10 }, () => `${base}/index.html`),
        ...Array.from({ length: 10 }, (_, i) => `${base}/users/${1000 + i}`),
        ...Array.from({ length: 5 }, () => `${base}/echo-status`),
        ...Array.from({ length: 5 }, (_, i) => `${base}/orders/123e4567-e89b-12d3-a456-42661417400${i}`),
      ];
      const result = await run(curl, ['-sS', ...urls.flatMap((u) => ['-o', '/dev/null', u])]);
      assert.equal(result.code, 0, result.stderr);
      burstEndMs = Date.now();
      // Both sides of every request: curl (client) and nginx (server).
      const rows = await waitFor('60 raw http_events rows', async () => {
        const found = await agent.query(forPort('http_events', nginx.port, "['req_path', 'resp_status']"));
        return found.length >= 60 ? found : undefined;
      });
      rawCount = rows.length;
      assert.equal(rawCount, 60);
    });

    it('keeps a rollup whose request count equals the raw count, queryable by name', async () => {
      const rows = await waitFor(`${ROLLUP} to cover the burst`, async () => {
        const found = await agent.query(forPort(ROLLUP, nginx.port, "['time_', 'req_path', 'resp_status', 'trace_role', 'requests', 'latency', 'errors', 'latency_max']"));
        return found.reduce((n, r) => n + (r.requests as number), 0) >= rawCount ? found : undefined;
      }, 30_000);
      assert.equal(rows.reduce((n, r) => n + (r.requests as number), 0), rawCount);
      const paths = new Set(rows.map((r) => r.req_path));
      assert.deepEqual([...paths].sort(), ['/echo-status', '/index.html', '/orders/*', '/users/*']);
      for (const row of rows) {
        const expectedClass = row.req_path === '/index.html' ? 200 : 400;
        assert.equal(row.resp_status, expectedClass, `${row.req_path as string}: status class`);
        assert.equal(row.errors, expectedClass >= 400 ? 1 : 0);
        const quantiles = JSON.parse(row.latency as string) as Record<string, number>;
        assert.ok(quantiles.p50! > 0 && quantiles.p99! <= (row.latency_max as number), `quantiles ${row.latency as string}`);
      }
    });

    it('returns no row older than maxAge once it has passed, while the rollup keeps the counts', async () => {
      await sleep(Math.max(0, burstEndMs + (MAX_AGE_S + 2) * 1000 - Date.now()));
      const queriedAtMs = Date.now();
      const all = await agent.query(`import px
df = px.DataFrame(table='http_events', start_time='-30m')
px.display(df[['time_']], 'rows')
`);
      // time_ is on the agent's clock (the same host clock); allow one ms of RFC 3339 rounding.
      const oldest = Math.min(...all.map((r) => Date.parse(r.time_ as string)));
      assert.ok(all.length === 0 || oldest >= queriedAtMs - MAX_AGE_S * 1000 - 1, `a row ${queriedAtMs - oldest} ms old was returned`);
      assert.equal((await agent.query(forPort('http_events', nginx.port, "['req_path']"))).length, 0, 'the burst expired');
      const rollup = await agent.query(forPort(ROLLUP, nginx.port, "['requests']"));
      assert.equal(rollup.reduce((n, r) => n + (r.requests as number), 0), rawCount);
    });

    it('shows bytes, rows, oldest row and budgets per table with wisp tables and on /metrics', async () => {
      const list = await tables(agent);
      const raw = list.find((t) => t.name === 'http_events')!;
      const rollup = list.find((t) => t.name === ROLLUP)!;
      assert.equal(raw.maxBytes, 32 * 2 ** 20);
      assert.equal(raw.maxAgeNs, String(MAX_AGE_S * 1e9));
      assert.ok((raw.rowsExpiredBy as Record<string, number>).age! > 0, JSON.stringify(raw));
      assert.ok((rollup.rows as number) > 0 && (rollup.bytes as number) > 0 && rollup.oldestTimeNs !== null, JSON.stringify(rollup));
      assert.equal(rollup.maxAgeNs, String(3600 * 1e9));
      for (const t of [raw, rollup]) {
        assert.equal(t.rowsAdded, (t.rows as number) + (t.rowsExpired as number) + (t.rowsDropped as number), `${t.name as string}: seen = stored + expired + dropped`);
      }
      const table = await run(WISP, ['tables', '--server', agent.server]);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, new RegExp(`${ROLLUP}\\s+\\d+\\s+[\\d.]+ (B|KiB|MiB)\\s+\\d{4}-\\d\\d-\\d\\dT`));
      assert.match(table.stdout, /http_events\s.*32\.0 MiB\s+10s\s/);

      const metrics = await agent.metrics();
      const value = (pattern: string): number => Number(new RegExp(`^${pattern} (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN);
      assert.ok(value('wisp_table_rows_expired_total\\{table="http_events",reason="age"\\}') > 0);
      assert.equal(value(`wisp_table_max_age_seconds\\{table="http_events"\\}`), MAX_AGE_S);
      assert.ok(value(`wisp_rollup_rows_aggregated_total\\{rollup="${ROLLUP}",from="http_events"\\}`) >= rawCount);
      assert.equal(value(`wisp_rollup_rows_dropped_total\\{rollup="${ROLLUP}",reason="late"\\}`), 0);
    });

    it('re-reads the config on SIGHUP and applies the new budget without a restart', async () => {
      writeFileSync(configPath, retentionYaml('45s'));
      process.kill(agent.pid, 'SIGHUP');
      await waitFor('the new maxAge', async () => ((await tables(agent)).find((t) => t.name === 'http_events')?.maxAgeNs === String(45e9) ? true : undefined));
      assert.ok((await tables(agent)).some((t) => t.name === ROLLUP && (t.rows as number) > 0), 'the unchanged rollup kept its rows');
    });
  });

  it('refuses an invalid config file with a one-line reason naming the field and a non-zero exit', async () => {
    const bad = join(tempDir('retention-bad'), 'bad.yaml');
    writeFileSync(bad, retentionYaml('30s').replace('interval: 2s', 'interval: soon'));
    const result = await run(WISP, ['agent', '--standalone', '--config', bad, '--listen', `127.0.0.1:${await freePort()}`], { timeoutMs: 30_000 });
    assert.notEqual(result.code, 0);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /^wisp agent: .*bad\.yaml: document 1: DataRetention\/host-retention: spec\.rollups\[0\]\.interval: Invalid value: "soon"/);
  });
});
