// Real PostgreSQL traffic through a real agent: a postmaster started here,
// psql (simple query protocol, SSLRequest answered 'N') and the `pg` Node
// client (extended protocol: Parse/Bind/Describe/Execute/Sync pipelined in one
// write), captured with eBPF and read back from pgsql_events with `wisp run`.
//
// Most checks read the clients' rows (trace_role 1). The server side is a
// backend the postmaster forks after accept(): the kernel side adopts the
// connection on the backend's first recv() (role inferred from the traffic),
// which the last test checks.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'mocha';
import pg from 'pg';
import { AgentProcess } from '../support/agent.ts';
import { PostgresProcess } from '../support/postgres.ts';
import { waitFor } from '../support/processes.ts';

type Row = Record<string, unknown>;

/** Client-side rows (psql, this process) of connections to `port`. */
function rowsScript(port: number): string {
  return `import px
df = px.DataFrame(table='pgsql_events', start_time='-5m')
df = df[(df.trace_role == 1) & (df.remote_port == ${port})]
px.display(df[['time_', 'req_cmd', 'req', 'resp', 'latency', 'local_port']], 'rows')
`;
}

async function waitForRows(agent: AgentProcess, port: number, match: (rows: Row[]) => boolean): Promise<Row[]> {
  return waitFor(`pgsql_events rows for port ${port}`, async () => {
    const rows = await agent.query(rowsScript(port));
    return match(rows) ? rows : undefined;
  }, 20_000);
}

const has = (rows: readonly Row[], req: string): boolean => rows.some((r) => r.req === req);
const pick = (rows: readonly Row[], req: string): Row[] => rows.filter((r) => r.req === req);
const line = (r: Row): string => `${r.req_cmd as string} | ${r.req as string} | ${r.resp as string}`;

describe('PostgreSQL capture (root, eBPF, real postgres)', function () {
  this.timeout(120_000);
  let agent: AgentProcess;
  let postgres: PostgresProcess;

  before(async () => {
    agent = await AgentProcess.start();
    postgres = await PostgresProcess.start();
  });
  after(async () => {
    await postgres?.stop();
    await agent?.stop();
  });

  it('records psql simple queries (after its SSLRequest) with command tags, columns and errors', async () => {
    const ok = await postgres.psql(
      'CREATE TABLE items (id int PRIMARY KEY, name text)',
      "INSERT INTO items VALUES (1, 'widget'), (2, 'gadget'), (3, 'gizmo')",
      'SELECT id, name FROM items ORDER BY id',
    );
    assert.equal(ok.code, 0, ok.stderr);
    const failed = await postgres.psql('SELECT * FROM no_such_table');
    assert.notEqual(failed.code, 0);

    const expected = [
      'Query | CREATE TABLE items (id int PRIMARY KEY, name text) | CREATE TABLE',
      "Query | INSERT INTO items VALUES (1, 'widget'), (2, 'gadget'), (3, 'gizmo') | INSERT 0 3",
      'Query | SELECT id, name FROM items ORDER BY id | SELECT 3 [id, name]',
      'Query | SELECT * FROM no_such_table | ERROR: relation "no_such_table" does not exist (42P01)',
    ];
    const rows = await waitForRows(agent, postgres.port, (r) => has(r, 'SELECT * FROM no_such_table'));
    const ours = rows.filter((r) => expected.some((e) => e.split(' | ')[1] === r.req)).sort((a, b) => Number(a.time_) - Number(b.time_));
    assert.deepEqual(ours.map(line), expected, JSON.stringify(rows.map(line)));
    for (const r of ours) assert.ok((r.latency as number) > 0, `latency of ${r.req as string}`);
  });

  it('records the server side too: the forked backend\'s connection is adopted on its first recv()', async () => {
    const ok = await postgres.psql("SELECT 'server side' AS side");
    assert.equal(ok.code, 0, ok.stderr);
    const serverRows = await waitFor('server-side rows of the backend', async () => {
      const rows = await agent.query(`import px
df = px.DataFrame(table='pgsql_events', start_time='-5m')
df = df[(df.trace_role == 2) & (df.local_port == ${postgres.port})]
px.display(df[['req_cmd', 'req', 'resp', 'latency']], 'rows')
`);
      return rows.some((r) => r.req === "SELECT 'server side' AS side") ? rows : undefined;
    }, 20_000);
    const row = serverRows.find((r) => r.req === "SELECT 'server side' AS side")!;
    assert.equal(line(row), "Query | SELECT 'server side' AS side | SELECT 1 [side]");
    assert.ok((row.latency as number) > 0);
    const metrics = await agent.metrics();
    assert.match(metrics, /wisp_kernel_connAdopted_total [1-9]/, 'the backend connections were adopted');
  });

  it('records extended-protocol Parse and Execute with bound parameters, errors and named statements', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: postgres.port, user: 'postgres', database: 'postgres' });
    await client.connect();
    try {
      const sum = await client.query('SELECT $1::int + 1 AS n, $2::text AS t', [41, 'hello']);
      assert.equal(sum.rows[0].n, 42);
      const named = { name: 'item-by-id', text: 'SELECT name FROM items WHERE id = $1', values: [2] };
      assert.equal((await client.query(named)).rows[0].name, 'gadget');
      assert.equal((await client.query({ ...named, values: [3] })).rows[0].name, 'gizmo');
      await assert.rejects(client.query('SELECT $1::int AS bad', ['not a number']), /invalid input syntax/);
      await client.query('SELECT 1 AS after_error');
    } finally {
      await client.end();
    }

    const rows = await waitForRows(agent, postgres.port, (r) => has(r, 'SELECT 1 AS after_error'));
    const lines = (req: string): string[] => pick(rows, req).map(line);
    assert.deepEqual(lines('SELECT $1::int + 1 AS n, $2::text AS t'), ['Parse | SELECT $1::int + 1 AS n, $2::text AS t | PARSE COMPLETE']);
    assert.deepEqual(lines('SELECT $1::int + 1 AS n, $2::text AS t PARAMETERS: [41, hello]'),
      ['Execute | SELECT $1::int + 1 AS n, $2::text AS t PARAMETERS: [41, hello] | SELECT 1 [n, t]']);
    // Prepared once, executed twice.
    assert.deepEqual(lines('SELECT name FROM items WHERE id = $1'), ['Parse | SELECT name FROM items WHERE id = $1 | PARSE COMPLETE']);
    assert.deepEqual(lines('SELECT name FROM items WHERE id = $1 PARAMETERS: [2]'), ['Execute | SELECT name FROM items WHERE id = $1 PARAMETERS: [2] | SELECT 1 [name]']);
    assert.deepEqual(lines('SELECT name FROM items WHERE id = $1 PARAMETERS: [3]'), ['Execute | SELECT name FROM items WHERE id = $1 PARAMETERS: [3] | SELECT 1 [name]']);
    assert.deepEqual(lines('SELECT $1::int AS bad PARAMETERS: [not a number]'),
      ['Execute | SELECT $1::int AS bad PARAMETERS: [not a number] | ERROR: invalid input syntax for type integer: "not a number" (22P02)']);
    // Without parameters the pg client uses the simple query protocol; pairing continues after the error.
    assert.deepEqual(lines('SELECT 1 AS after_error'), ['Query | SELECT 1 AS after_error | SELECT 1 [after_error]']);
    for (const r of rows) assert.ok((r.latency as number) > 0);
  });

  it('keeps concurrent connections apart', async () => {
    const clients = Array.from({ length: 6 }, () => new pg.Client({ host: '127.0.0.1', port: postgres.port, user: 'postgres', database: 'postgres' }));
    await Promise.all(clients.map((c) => c.connect()));
    try {
      await Promise.all(clients.map(async (c, k) => {
        for (let q = 0; q < 5; q++) {
          const res = await c.query('SELECT $1::int * 10 AS concurrent', [k * 100 + q]);
          assert.equal(res.rows[0].concurrent, (k * 100 + q) * 10);
        }
      }));
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
    const want = clients.flatMap((_, k) => Array.from({ length: 5 }, (__, q) => `SELECT $1::int * 10 AS concurrent PARAMETERS: [${k * 100 + q}]`));
    const rows = await waitForRows(agent, postgres.port, (r) => want.every((w) => has(r, w)));
    for (const w of want) {
      const matches = pick(rows, w);
      assert.equal(matches.length, 1, w);
      assert.equal(matches[0]!.resp, 'SELECT 1 [concurrent]');
    }
    // Each Execute is attributed to the connection (the client's local port) that sent it.
    const portOf = clients.map((_, k) => new Set(want.slice(k * 5, k * 5 + 5).map((w) => pick(rows, w)[0]!.local_port)));
    for (const ports of portOf) assert.equal(ports.size, 1);
    assert.equal(new Set(portOf.map((p) => [...p][0])).size, clients.length);
  });

  it('exposes the pgsql counters on /metrics', async () => {
    const metrics = await agent.metrics();
    assert.match(metrics, /wisp_tracker_records_total\{reason="pgsql"\} [1-9]/);
    assert.match(metrics, /wisp_tracker_protocol_total\{reason="pgsql"\} [1-9]/);
  });
});
