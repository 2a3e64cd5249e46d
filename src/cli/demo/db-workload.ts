// The demo's PostgreSQL and MariaDB traffic, when the machine has the
// servers (Debian postgresql and mariadb-server): each server gets a
// throwaway data dir under the demo's temp dir and a free loopback port
// (servers.ts), and this process keeps a small, varied stream of statements
// going over TCP: simple queries, prepared statements with parameters
// (PostgreSQL's extended protocol, MySQL's COM_STMT_PREPARE/EXECUTE), inserts
// and selects on a small table, a ping, and a query of a missing table now and
// then. The clients are the `pg` and `mysql2` packages the protocol tests use,
// loaded on demand: they are dev dependencies, present in a checkout
// (`make demo`) but not in the agent image. Anything missing is reported on
// stderr in one line and skipped; the other traffic runs regardless.
import { join } from 'node:path';
import { mariadbBinaries, postgresBinDir, startMariadb, startPostgres, type DatabaseServer } from './servers.ts';

/** One statement every PGSQL_INTERVAL_MS / MYSQL_INTERVAL_MS, cycling through the steps below. */
const PGSQL_INTERVAL_MS = 600;
const MYSQL_INTERVAL_MS = 650;
/** Rows older than this are deleted by the housekeeping step, so the table stays small however long the demo runs. */
const KEEP_ROWS_SECONDS = 30;
const ITEMS = ['book', 'lamp', 'chair', 'mug', 'pen'] as const;

/** Runs `steps` one after another, one every `intervalMs`, forever; a failing step (an expected error reply, a lost server) does not stop the loop. */
function cycle(intervalMs: number, steps: readonly ((n: number) => Promise<unknown>)[]): void {
  let n = 0;
  const next = (): void => {
    const step = steps[n % steps.length]!;
    step(n++).catch(() => { /* errors are part of the show */ }).finally(() => setTimeout(next, intervalMs));
  };
  next();
}

async function startPgsql(dir: string, servers: DatabaseServer[]): Promise<void> {
  if (postgresBinDir() === undefined) {
    process.stderr.write('wisp demo: postgres not found (Debian postgresql): no PostgreSQL traffic\n');
    return;
  }
  const pg = await import('pg').catch(() => undefined);
  if (pg === undefined) {
    process.stderr.write('wisp demo: the pg client package is missing (a dev dependency: npm ci): no PostgreSQL traffic\n');
    return;
  }
  const server = await startPostgres({ dir });
  servers.push(server);
  const client = new pg.default.Client({ host: '127.0.0.1', port: server.port, user: 'postgres', database: 'postgres' });
  client.on('error', () => { /* a lost server only stops the PostgreSQL traffic */ });
  await client.connect();
  await client.query('CREATE TABLE IF NOT EXISTS demo_orders (id serial PRIMARY KEY, item text NOT NULL, quantity int NOT NULL, created_at timestamptz NOT NULL DEFAULT now())');
  // A query with values goes through the extended protocol (Parse/Bind/Describe/Execute/Sync); one without, the simple one.
  cycle(PGSQL_INTERVAL_MS, [
    (n) => client.query({ name: 'demo-insert-order', text: 'INSERT INTO demo_orders (item, quantity) VALUES ($1, $2) RETURNING id', values: [ITEMS[n % ITEMS.length]!, n % 4 + 1] }),
    () => client.query('SELECT count(*) AS orders, sum(quantity) AS items FROM demo_orders'),
    (n) => client.query('SELECT id, item, quantity FROM demo_orders WHERE quantity >= $1 ORDER BY id DESC LIMIT 5', [n % 3 + 1]),
    () => client.query('UPDATE demo_orders SET quantity = quantity + 1 WHERE id = (SELECT max(id) FROM demo_orders)'),
    () => client.query('SELECT * FROM demo_missing_table'),
    () => client.query(`DELETE FROM demo_orders WHERE created_at < now() - interval '${KEEP_ROWS_SECONDS} seconds'`),
  ]);
}

async function startMysql(dir: string, servers: DatabaseServer[]): Promise<void> {
  if (mariadbBinaries() === undefined) {
    process.stderr.write('wisp demo: mariadbd not found (Debian mariadb-server): no MariaDB traffic\n');
    return;
  }
  const mysql = await import('mysql2/promise').catch(() => undefined);
  if (mysql === undefined) {
    process.stderr.write('wisp demo: the mysql2 client package is missing (a dev dependency: npm ci): no MariaDB traffic\n');
    return;
  }
  const server = await startMariadb({ dir });
  servers.push(server);
  const connection = await mysql.default.createConnection({ host: '127.0.0.1', port: server.port, user: 'root' });
  connection.on('error', () => { /* a lost server only stops the MariaDB traffic */ });
  await connection.query('CREATE DATABASE IF NOT EXISTS demo');
  await connection.query('USE demo');
  await connection.query('CREATE TABLE IF NOT EXISTS orders (id INT AUTO_INCREMENT PRIMARY KEY, item VARCHAR(32) NOT NULL, quantity INT NOT NULL, created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)');
  // execute() prepares once (COM_STMT_PREPARE) and then sends binary parameters (COM_STMT_EXECUTE); query() is COM_QUERY.
  cycle(MYSQL_INTERVAL_MS, [
    (n) => connection.execute('INSERT INTO orders (item, quantity) VALUES (?, ?)', [ITEMS[(n + 2) % ITEMS.length]!, n % 4 + 1]),
    () => connection.query('SELECT COUNT(*) AS orders, SUM(quantity) AS items FROM orders'),
    (n) => connection.execute('SELECT id, item, quantity FROM orders WHERE quantity >= ? ORDER BY id DESC LIMIT 5', [n % 3 + 1]),
    () => connection.query('UPDATE orders SET quantity = quantity + 1 ORDER BY id DESC LIMIT 1'),
    () => connection.query('SELECT * FROM missing_table'),
    () => connection.ping(),
    () => connection.query(`DELETE FROM orders WHERE created_at < NOW() - INTERVAL ${KEEP_ROWS_SECONDS} SECOND`),
  ]);
}

/**
 * Starts what the machine has, with data dirs under `dir`; the servers are
 * pushed to `servers` as soon as each one runs, so that a stop in the middle
 * of startup still finds them.
 */
export async function startDatabaseTraffic(dir: string, servers: DatabaseServer[]): Promise<void> {
  await Promise.all([
    startPgsql(join(dir, 'postgres'), servers).catch((error: Error) => process.stderr.write(`wisp demo: no PostgreSQL traffic: ${error.message}\n`)),
    startMysql(join(dir, 'mariadb'), servers).catch((error: Error) => process.stderr.write(`wisp demo: no MariaDB traffic: ${error.message}\n`)),
  ]);
}
