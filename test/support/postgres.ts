import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, requireCommand, requireRoot, run, stop, tempDir, waitFor } from './processes.ts';

/** The server binaries of the newest installed major version (Debian keeps them off PATH). */
export function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  const dir = versions.map((v) => join(root, v, 'bin')).find((d) => existsSync(join(d, 'postgres')));
  if (!dir) throw new Error(`no PostgreSQL server under ${root}: install the Debian package postgresql`);
  return dir;
}

/**
 * A real PostgreSQL (Debian `postgresql`): initdb into a temp dir and a
 * postmaster on a free loopback port, trust authentication, run as the
 * `postgres` user (the server refuses root). No systemd, no cluster wrapper.
 */
export class PostgresProcess {
  readonly port: number;
  private readonly child: ChildProcess;
  private readonly dir: string;

  private constructor(port: number, child: ChildProcess, dir: string) {
    this.port = port;
    this.child = child;
    this.dir = dir;
  }

  static async start(): Promise<PostgresProcess> {
    requireRoot('starting PostgreSQL as the postgres user');
    const bin = postgresBinDir();
    const initdb = join(bin, 'initdb');
    const postgres = join(bin, 'postgres');
    const pgIsReady = requireCommand('pg_isready', 'postgresql-client');
    const ids = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    if (ids.status !== 0) throw new Error('user postgres not found: install the Debian package postgresql');
    const uid = Number(ids.stdout.trim());
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    const dir = tempDir('postgres');
    chownSync(dir, uid, gid);
    const data = join(dir, 'data');
    const init = await runAs(uid, gid, initdb, ['-D', data, '--auth=trust', '--username=postgres', '--no-sync', '--encoding=UTF8', '--locale=C']);
    if (init.code !== 0) throw new Error(`initdb failed (${init.code}): ${init.stderr.trim()}`);
    const port = await freePort();
    const child = spawn(postgres, ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'ssl=off'],
      { stdio: ['ignore', 'ignore', 'pipe'], uid, gid, cwd: dir });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
    await waitFor(`postgres on port ${port}`, async () => {
      if (child.exitCode !== null) throw new Error(`postgres exited ${child.exitCode}: ${stderr.trim()}`);
      const ready = await run(pgIsReady, ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres']);
      return ready.code === 0 ? true : undefined;
    }, 30_000);
    return new PostgresProcess(port, child, dir);
  }

  /** Runs SQL through psql (simple query protocol) and returns its result. */
  async psql(...commands: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const psql = requireCommand('psql', 'postgresql-client');
    return run(psql, ['-X', '-h', '127.0.0.1', '-p', String(this.port), '-U', 'postgres', '-d', 'postgres', ...commands.flatMap((c) => ['-c', c])]);
  }

  /** Stops the server and removes its data directory. */
  async stop(): Promise<void> {
    await stop(this.child);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function runAs(uid: number, gid: number, command: string, args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], uid, gid, cwd: '/' });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}
