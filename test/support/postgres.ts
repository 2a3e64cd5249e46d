import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { postgresBinDir as findPostgresBinDir, startPostgres } from '../../src/cli/demo/servers.ts';
import { requireCommand, requireRoot, run, stop, tempDir } from './processes.ts';

/** The server binaries of the newest installed major version (Debian keeps them off PATH); throws when none is. */
export function postgresBinDir(): string {
  const dir = findPostgresBinDir();
  if (dir === undefined) throw new Error('no PostgreSQL server under /usr/lib/postgresql: install the Debian package postgresql');
  return dir;
}

/**
 * A real PostgreSQL (Debian `postgresql`): initdb into a temp dir and a
 * postmaster on a free loopback port, trust authentication, run as the
 * `postgres` user (the server refuses root). No systemd, no cluster wrapper.
 * Started the way `wisp demo` starts its server (src/cli/demo/servers.ts).
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
    const dir = tempDir('postgres');
    try {
      const server = await startPostgres({ dir, timeoutMs: 30_000 });
      return new PostgresProcess(server.port, server.child, dir);
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
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
