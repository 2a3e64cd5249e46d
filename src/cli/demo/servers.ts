// Throwaway database servers from the Debian packages (postgresql,
// mariadb-server): a data dir initialized under a caller-given directory and
// a server on a free loopback port, no systemd, no cluster wrappers. Shared
// by the demo workload and the integration tests (test/support/postgres.ts,
// test/support/mariadb.ts), so both start the servers the same way.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, chownSync, constants, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';

/** A started server: kill `child` with `stopSignal` for a fast shutdown that needs no client to leave first. */
export interface DatabaseServer {
  readonly port: number;
  readonly child: ChildProcess;
  readonly stopSignal: NodeJS.Signals;
}

export interface DatabaseServerOptions {
  /** Created if missing; holds the data dir, sockets and logs. Must be reachable (x) by the postgres user when run as root. */
  readonly dir: string;
  /** How long initialization plus startup may take. */
  readonly timeoutMs?: number;
}

const POSTGRES_ROOT = '/usr/lib/postgresql';
const DEFAULT_TIMEOUT_MS = 60_000;
const STDERR_TAIL_CHARS = 4000;

/** `name` on PATH or in the sbin dirs (where Debian puts mariadbd), or undefined. */
export function findExecutable(name: string): string | undefined {
  for (const dir of [...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin', '/sbin']) {
    if (dir === '') continue;
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** A loopback port nobody listens on right now (the server binds it a moment later). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * A self-signed certificate for 127.0.0.1 made by the openssl CLI at
 * `openssl`: `dir`/cert.pem and `dir`/key.pem (the demo's HTTPS server and
 * the tests' nginx with TLS). Throws with openssl's last line of complaint.
 */
export async function makeSelfSignedCertificate(openssl: string, dir: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  await promisify(execFile)(openssl, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-keyout', key, '-out', cert]).catch((error: Error & { stderr?: string }) => {
    throw new Error(`make a self-signed certificate: ${error.stderr?.trim().split('\n').pop() ?? error.message}`);
  });
  return { cert, key };
}

/** The server binaries of the newest installed PostgreSQL major version (Debian keeps them off PATH), or undefined. */
export function postgresBinDir(): string | undefined {
  const versions = existsSync(POSTGRES_ROOT) ? readdirSync(POSTGRES_ROOT).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  return versions.map((v) => join(POSTGRES_ROOT, v, 'bin')).find((d) => existsSync(join(d, 'postgres')) && existsSync(join(d, 'initdb')));
}

/** mariadbd (or mysqld) and its data dir installer, or undefined when either is missing. */
export function mariadbBinaries(): { server: string; installDb: string } | undefined {
  const server = findExecutable('mariadbd') ?? findExecutable('mysqld');
  const installDb = findExecutable('mariadb-install-db') ?? findExecutable('mysql_install_db');
  return server !== undefined && installDb !== undefined ? { server, installDb } : undefined;
}

/**
 * PostgreSQL: initdb into `dir`/data with trust authentication for the user
 * `postgres`, then a postmaster on a free 127.0.0.1 port with its unix socket
 * in `dir`. The server refuses to run as root, so as root both run as the
 * Debian `postgres` user, which then owns `dir`. Ready once postmaster.pid
 * says so (its 8th line is the postmaster's status since PostgreSQL 10), so
 * no client is needed to probe it.
 */
export async function startPostgres(options: DatabaseServerOptions): Promise<DatabaseServer> {
  const bin = postgresBinDir();
  if (bin === undefined) throw new Error(`no PostgreSQL server under ${POSTGRES_ROOT}: install the Debian package postgresql`);
  const deadline = Date.now() + (options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const { dir } = options;
  mkdirSync(dir, { recursive: true });
  let ids: { uid: number; gid: number } | undefined;
  if (process.getuid?.() === 0) {
    ids = { uid: Number(idOf('-u')), gid: Number(idOf('-g')) };
    chownSync(dir, ids.uid, ids.gid);
  }
  const data = join(dir, 'data');
  const init = await runToEnd(join(bin, 'initdb'), ['-D', data, '--auth=trust', '--username=postgres', '--no-sync', '--encoding=UTF8', '--locale=C'],
    { ids, deadline });
  if (init.code !== 0) throw new Error(`initdb failed (${init.code}): ${init.stderr.trim().slice(-2000)}`);
  const port = await freePort();
  const child = spawn(join(bin, 'postgres'), ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'ssl=off'],
    { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir, ...ids });
  const stderr = tail(child);
  await pollUntil(`postgres on port ${port}`, deadline, child, () => {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`postgres exited (${child.exitCode ?? child.signalCode}): ${stderr().trim()}`);
    const status = readFileOr(join(data, 'postmaster.pid')).split('\n')[7]?.trim();
    return status === 'ready';
  });
  // SIGINT is PostgreSQL's fast shutdown; SIGTERM (smart) would wait for every client to disconnect.
  return { port, child, stopSignal: 'SIGINT' };
}

/**
 * MariaDB: mariadb-install-db into `dir`/data and mariadbd on a free
 * 127.0.0.1 port with --skip-grant-tables (any user, no password), socket,
 * pid file and error log in `dir`. As root the server needs --user=root.
 * Ready once the server sends its protocol-10 handshake on the port.
 */
export async function startMariadb(options: DatabaseServerOptions): Promise<DatabaseServer> {
  const binaries = mariadbBinaries();
  if (binaries === undefined) throw new Error('mariadbd or mariadb-install-db not found: install the Debian package mariadb-server');
  const deadline = Date.now() + (options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const { dir } = options;
  mkdirSync(dir, { recursive: true });
  const data = join(dir, 'data');
  const asRoot = process.getuid?.() === 0 ? ['--user=root'] : [];
  const install = await runToEnd(binaries.installDb, ['--no-defaults', `--datadir=${data}`, ...asRoot, '--skip-test-db', '--auth-root-authentication-method=normal'],
    { deadline });
  if (install.code !== 0) throw new Error(`mariadb-install-db failed (${install.code}): ${install.stderr.trim().slice(-2000)}`);
  const port = await freePort();
  const errorLog = join(dir, 'error.log');
  const child = spawn(binaries.server, [
    '--no-defaults', `--datadir=${data}`, `--port=${port}`, '--bind-address=127.0.0.1', `--socket=${join(dir, 'mysqld.sock')}`,
    `--pid-file=${join(dir, 'mysqld.pid')}`, ...asRoot, '--skip-grant-tables', '--innodb-buffer-pool-size=16M',
    '--skip-log-bin', `--log-error=${errorLog}`,
  ], { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir });
  const stderr = tail(child);
  await pollUntil(`mariadbd on port ${port}`, deadline, child, async () => {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`mariadbd exited (${child.exitCode ?? child.signalCode}): ${`${stderr()}\n${readFileOr(errorLog)}`.trim().slice(-2000)}`);
    }
    return (await firstByteOfHandshake(port)) === 0x0a;
  });
  return { port, child, stopSignal: 'SIGTERM' };
}

function idOf(flag: '-u' | '-g'): string {
  const id = spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  if (id.status !== 0) throw new Error('user postgres not found (PostgreSQL refuses to run as root): install the Debian package postgresql');
  return id.stdout.trim();
}

function readFileOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Keeps the last STDERR_TAIL_CHARS of a child's stderr (for error messages) without letting the pipe fill up. */
function tail(child: ChildProcess): () => string {
  let text = '';
  child.stderr?.on('data', (d: Buffer) => { text = (text + d.toString()).slice(-STDERR_TAIL_CHARS); });
  return () => text;
}

/** Runs a command to completion (killed at `deadline`), optionally as another user, keeping its stderr. */
function runToEnd(command: string, args: readonly string[], options: { ids?: { uid: number; gid: number } | undefined; deadline: number }): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], cwd: '/', ...options.ids });
    const stderr = tail(child);
    const timer = setTimeout(() => child.kill('SIGKILL'), Math.max(0, options.deadline - Date.now()));
    child.on('error', (error) => { clearTimeout(timer); reject(error); });
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stderr: stderr() }); });
  });
}

/**
 * The payload's first byte of the packet a MySQL-protocol server sends on
 * connect (0x0a: protocol-10 handshake, 0xff: an error such as "starting
 * up"), or undefined when nothing listens yet.
 */
function firstByteOfHandshake(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const done = (value: number | undefined): void => { socket.destroy(); resolve(value); };
    socket.setTimeout(1000, () => done(undefined));
    socket.once('error', () => done(undefined));
    let got = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length >= 5) done(got[4]);
    });
    socket.once('end', () => done(undefined));
  });
}

/**
 * Polls `check` every 100 ms until it returns true; throws what it throws, or
 * a timeout naming `what`. On failure the server is killed: the caller never
 * got a handle to stop it.
 */
async function pollUntil(what: string, deadline: number, server: ChildProcess, check: () => boolean | Promise<boolean>): Promise<void> {
  try {
    while (!(await check())) {
      if (Date.now() >= deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } catch (error) {
    server.kill('SIGKILL');
    throw error;
  }
}
