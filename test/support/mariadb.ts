import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { startMariadb } from '../../src/cli/demo/servers.ts';
import { requireCommand, requireRoot, run, stop, tempDir } from './processes.ts';

/**
 * A real MariaDB (Debian `mariadb-server`): mariadb-install-db into a temp
 * datadir and mariadbd on a free loopback port with --skip-grant-tables (any
 * user, no password). No systemd. Started the way `wisp demo` starts its
 * server (src/cli/demo/servers.ts).
 */
export class MariadbProcess {
  readonly port: number;
  private readonly child: ChildProcess;
  private readonly dir: string;

  private constructor(port: number, child: ChildProcess, dir: string) {
    this.port = port;
    this.child = child;
    this.dir = dir;
  }

  static async start(): Promise<MariadbProcess> {
    requireRoot('starting MariaDB');
    const dir = tempDir('mariadb');
    try {
      const server = await startMariadb({ dir, timeoutMs: 120_000 });
      return new MariadbProcess(server.port, server.child, dir);
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Runs statements through the mariadb command-line client (COM_QUERY; `USE db` is sent as COM_INIT_DB). */
  async client(statements: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const mariadb = requireCommand('mariadb', 'mariadb-client');
    return run(mariadb, ['--no-defaults', '--protocol=tcp', '-h', '127.0.0.1', '-P', String(this.port), '-u', 'root', '-A', '-N', '-B', '-e', statements]);
  }

  /** Stops the server and removes its data directory. */
  async stop(): Promise<void> {
    await stop(this.child);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
