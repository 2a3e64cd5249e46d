import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, requireCommand, requireRoot, run, stop, tempDir, waitFor } from './processes.ts';

/**
 * A real MariaDB (Debian `mariadb-server`): mariadb-install-db into a temp
 * datadir and mariadbd on a free loopback port with --skip-grant-tables (any
 * user, no password). No systemd.
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
    const installDb = requireCommand('mariadb-install-db', 'mariadb-server');
    const mariadbd = requireCommand('mariadbd', 'mariadb-server');
    const dir = tempDir('mariadb');
    const data = join(dir, 'data');
    const install = await run(installDb, ['--no-defaults', `--datadir=${data}`, '--user=root', '--skip-test-db', '--auth-root-authentication-method=normal'], { timeoutMs: 120_000 });
    if (install.code !== 0) throw new Error(`mariadb-install-db failed (${install.code}): ${install.stderr.trim().slice(-2000)}`);
    const port = await freePort();
    const child = spawn(mariadbd, [
      '--no-defaults', `--datadir=${data}`, `--port=${port}`, '--bind-address=127.0.0.1', `--socket=${join(dir, 'mysqld.sock')}`,
      `--pid-file=${join(dir, 'mysqld.pid')}`, '--user=root', '--skip-grant-tables', '--innodb-buffer-pool-size=16M',
      '--skip-log-bin', `--log-error=${join(dir, 'error.log')}`,
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
    const db = new MariadbProcess(port, child, dir);
    await waitFor(`mariadbd on port ${port}`, async () => {
      if (child.exitCode !== null) throw new Error(`mariadbd exited ${child.exitCode}: ${stderr.trim()} (log: ${join(dir, 'error.log')})`);
      const ping = await run(requireCommand('mariadb-admin', 'mariadb-client'), ['--no-defaults', '--protocol=tcp', '-h', '127.0.0.1', '-P', String(port), '-u', 'root', 'ping']);
      return ping.code === 0 ? true : undefined;
    }, 60_000);
    return db;
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
