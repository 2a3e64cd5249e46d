// Real MariaDB traffic through a real agent: mariadbd started here, the
// mariadb command-line client (COM_QUERY, COM_INIT_DB) and the mysql2 Node
// client (COM_STMT_PREPARE/EXECUTE/CLOSE with binary parameters, COM_PING),
// captured with eBPF and read back from mysql_events with `wisp run`.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'mocha';
import mysql from 'mysql2/promise';
import { AgentProcess } from '../support/agent.ts';
import { MariadbProcess } from '../support/mariadb.ts';
import { waitFor } from '../support/processes.ts';

type Row = Record<string, unknown>;

const COM_INIT_DB = 2;
const COM_QUERY = 3;
const COM_PING = 14;
const COM_STMT_PREPARE = 22;
const COM_STMT_EXECUTE = 23;
const COM_STMT_CLOSE = 25;
const OK = 2;
const ERR = 3;
const NONE = 1;

function rowsScript(port: number, role: 1 | 2): string {
  const side = role === 2 ? `(df.trace_role == 2) & (df.local_port == ${port})` : `(df.trace_role == 1) & (df.remote_port == ${port})`;
  return `import px
df = px.DataFrame(table='mysql_events', start_time='-5m')
df = df[${side}]
px.display(df[['time_', 'req_cmd', 'req_body', 'resp_status', 'resp_body', 'latency', 'remote_port']], 'rows')
`;
}

async function waitForRows(agent: AgentProcess, port: number, role: 1 | 2, match: (rows: Row[]) => boolean): Promise<Row[]> {
  return waitFor(`mysql_events rows for port ${port} (role ${role})`, async () => {
    const rows = await agent.query(rowsScript(port, role));
    return match(rows) ? rows : undefined;
  }, 20_000);
}

const has = (rows: readonly Row[], body: string): boolean => rows.some((r) => r.req_body === body);
const pick = (rows: readonly Row[], body: string): Row[] => rows.filter((r) => r.req_body === body);
const line = (r: Row): string => `${r.req_cmd as number} | ${r.req_body as string} | ${r.resp_status as number} | ${r.resp_body as string}`;

describe('MySQL/MariaDB capture (root, eBPF, real mariadbd)', function () {
  this.timeout(180_000);
  let agent: AgentProcess;
  let mariadb: MariadbProcess;

  before(async () => {
    agent = await AgentProcess.start();
    mariadb = await MariadbProcess.start();
  });
  after(async () => {
    await mariadb?.stop();
    await agent?.stop();
  });

  it('records the command-line client: COM_INIT_DB, queries with result summaries and errors, on both sides', async () => {
    const setup = await mariadb.client('CREATE DATABASE shop; CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(32))');
    assert.equal(setup.code, 0, setup.stderr);
    const ok = await mariadb.client("USE shop; INSERT INTO items VALUES (1, 'widget'), (2, 'gadget'), (3, 'gizmo'); SELECT id, name FROM items ORDER BY id");
    assert.equal(ok.code, 0, ok.stderr);
    const failed = await mariadb.client('USE shop; SELECT * FROM no_such_table');
    assert.notEqual(failed.code, 0);

    const expected = [
      `${COM_INIT_DB} | shop | ${OK} | `,
      `${COM_QUERY} | INSERT INTO items VALUES (1, 'widget'), (2, 'gadget'), (3, 'gizmo') | ${OK} | Records: 3  Duplicates: 0  Warnings: 0`,
      `${COM_QUERY} | SELECT id, name FROM items ORDER BY id | ${OK} | Resultset rows = 3`,
      `${COM_INIT_DB} | shop | ${OK} | `,
      `${COM_QUERY} | SELECT * FROM no_such_table | ${ERR} | ERROR 1146 (42S02): Table 'shop.no_such_table' doesn't exist`,
    ];
    for (const role of [2, 1] as const) {
      const rows = await waitForRows(agent, mariadb.port, role, (r) => has(r, 'SELECT * FROM no_such_table'));
      const ours = rows.filter((r) => expected.some((e) => e.split(' | ')[1] === r.req_body)).sort((a, b) => Number(a.time_) - Number(b.time_));
      assert.deepEqual(ours.map(line), expected, `role ${role}: ${JSON.stringify(rows.map(line))}`);
      for (const r of ours) assert.ok((r.latency as number) > 0, `latency of ${r.req_body as string}`);
    }
  });

  it('records prepared statements with their binary parameters, COM_PING and COM_STMT_CLOSE', async () => {
    const conn = await mysql.createConnection({ host: '127.0.0.1', port: mariadb.port, user: 'root', database: 'shop' });
    const sql = 'SELECT name FROM items WHERE id = ? OR name = ?';
    try {
      const [first] = await conn.execute(sql, [2, 'gizmo']);
      assert.equal((first as Row[]).length, 2);
      const [second] = await conn.execute(sql, [1, null]);
      assert.equal((second as Row[]).length, 1);
      await conn.ping();
      await assert.rejects(conn.execute('SELECT * FROM shop.missing WHERE id = ?', [1]), /doesn't exist/);
      await conn.unprepare(sql);
    } finally {
      await conn.end();
    }

    const rows = await waitForRows(agent, mariadb.port, 2, (r) => r.some((x) => x.req_cmd === COM_STMT_CLOSE && x.req_body === sql));
    const lines = (body: string): string[] => pick(rows, body).map(line);
    assert.match(lines(sql).find((l) => l.startsWith(`${COM_STMT_PREPARE} `)) ?? '', /^22 \| .* \| 2 \| Prepared statement id = \d+, params = 2, columns = 1$/);
    assert.deepEqual(lines(`${sql} PARAMETERS: [2, gizmo]`), [`${COM_STMT_EXECUTE} | ${sql} PARAMETERS: [2, gizmo] | ${OK} | Resultset rows = 2`]);
    assert.deepEqual(lines(`${sql} PARAMETERS: [1, NULL]`), [`${COM_STMT_EXECUTE} | ${sql} PARAMETERS: [1, NULL] | ${OK} | Resultset rows = 1`]);
    assert.deepEqual(lines('SELECT * FROM shop.missing WHERE id = ?'),
      [`${COM_STMT_PREPARE} | SELECT * FROM shop.missing WHERE id = ? | ${ERR} | ERROR 1146 (42S02): Table 'shop.missing' doesn't exist`]);
    assert.ok(rows.some((r) => r.req_cmd === COM_PING && r.resp_status === OK), 'COM_PING');
    const close = rows.filter((r) => r.req_cmd === COM_STMT_CLOSE && r.req_body === sql);
    assert.equal(close.length, 1);
    assert.equal(close[0]!.resp_status, NONE);
    for (const r of rows.filter((x) => x.resp_status !== NONE)) assert.ok((r.latency as number) > 0);
  });

  it('keeps concurrent connections apart', async () => {
    const conns = await Promise.all(Array.from({ length: 6 }, () => mysql.createConnection({ host: '127.0.0.1', port: mariadb.port, user: 'root' })));
    const sql = 'SELECT ? * 10 AS concurrent';
    try {
      await Promise.all(conns.map(async (c, k) => {
        for (let q = 0; q < 5; q++) {
          const [res] = await c.execute(sql, [k * 100 + q]);
          assert.equal(Number((res as Row[])[0]!.concurrent), (k * 100 + q) * 10);
        }
      }));
    } finally {
      await Promise.all(conns.map((c) => c.end()));
    }
    const want = conns.map((_, k) => Array.from({ length: 5 }, (__, q) => `${sql} PARAMETERS: [${k * 100 + q}]`));
    const rows = await waitForRows(agent, mariadb.port, 2, (r) => want.flat().every((w) => has(r, w)));
    for (const w of want.flat()) {
      assert.deepEqual(pick(rows, w).map(line), [`${COM_STMT_EXECUTE} | ${w} | ${OK} | Resultset rows = 1`]);
    }
    const ports = want.map((ws) => new Set(ws.map((w) => pick(rows, w)[0]!.remote_port)));
    for (const p of ports) assert.equal(p.size, 1);
    assert.equal(new Set(ports.map((p) => [...p][0])).size, conns.length);
  });

  it('exposes the mysql counters on /metrics', async () => {
    const metrics = await agent.metrics();
    assert.match(metrics, /wisp_tracker_records_total\{reason="mysql"\} [1-9]/);
    assert.match(metrics, /wisp_tracker_protocol_total\{reason="mysql"\} [1-9]/);
  });
});
