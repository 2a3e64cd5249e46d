import { spawn, type ChildProcess } from 'node:child_process';
import { freePort, requireBuilt, requireRoot, run, stop, waitFor, WISP } from './processes.ts';

export interface OutputRows { name: string; rows: Record<string, unknown>[] }

/** A standalone `wisp agent` child process on a free loopback port. */
export class AgentProcess {
  readonly server: string;
  private readonly child: ChildProcess;
  private stderr = '';

  private constructor(server: string, child: ChildProcess) {
    this.server = server;
    this.child = child;
    child.stderr?.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-4000); });
  }

  static async start(extraArgs: readonly string[] = []): Promise<AgentProcess> {
    requireRoot('the eBPF agent');
    requireBuilt();
    const port = await freePort();
    const server = `http://127.0.0.1:${port}`;
    const child = spawn(WISP, ['agent', '--standalone', '--listen', `127.0.0.1:${port}`, ...extraArgs], { stdio: ['ignore', 'ignore', 'pipe'] });
    const agent = new AgentProcess(server, child);
    await waitFor('the agent to serve /healthz', async () => {
      if (child.exitCode !== null) throw new Error(`agent exited ${child.exitCode}: ${agent.stderr.trim()}`);
      const res = await fetch(`${server}/healthz`).catch(() => undefined);
      return res?.ok ? true : undefined;
    }, 30_000);
    return agent;
  }

  get pid(): number { return this.child.pid!; }
  get log(): string { return this.stderr; }

  /** Runs a script through `wisp run -o json -` and groups the rows by output. */
  async query(script: string): Promise<Record<string, unknown>[]> {
    const result = await run(WISP, ['run', '--server', this.server, '-o', 'json', '-'], { input: script });
    if (result.code !== 0) throw new Error(`wisp run failed (${result.code}): ${result.stderr.trim()}`);
    return result.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  async metrics(): Promise<string> {
    return (await fetch(`${this.server}/metrics`)).text();
  }

  async stop(): Promise<void> {
    await stop(this.child);
  }
}
