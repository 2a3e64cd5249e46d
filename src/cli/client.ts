import type { OutputJson } from './format.ts';

export const DEFAULT_SERVER = 'http://127.0.0.1:7070';

/** An error the CLI prints as one line and exits non-zero with. */
export class CliError extends Error {}

export interface TableStatsJson {
  name: string;
  columns: { name: string; type: string }[];
  rows: number;
  bytes: number;
  oldestTimeNs: string | null;
  rowsAdded: number;
  rowsExpired: number;
  rowsDropped: number;
}

/** Talks to an agent's query API. */
export class AgentClient {
  readonly server: string;
  readonly timeoutMs: number;

  constructor(server: string, timeoutMs = 30_000) {
    this.server = server.replace(/\/+$/, '');
    this.timeoutMs = timeoutMs;
  }

  async query(script: string): Promise<OutputJson[]> {
    const body = await this.request('/api/v1/query', { method: 'POST', body: JSON.stringify({ script }), headers: { 'content-type': 'application/json' } });
    return (body as { outputs: OutputJson[] }).outputs;
  }

  async tables(): Promise<TableStatsJson[]> {
    return ((await this.request('/api/v1/tables', { method: 'GET' })) as { tables: TableStatsJson[] }).tables;
  }

  private async request(path: string, init: RequestInit): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(`${this.server}${path}`, { ...init, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (error) {
      const cause = (error as Error & { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(`cannot reach agent at ${this.server}: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
    }
    const text = await response.text();
    let body: { error?: string } & Record<string, unknown>;
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new CliError(`agent at ${this.server} answered ${response.status} with a body that is not JSON`);
    }
    if (!response.ok) throw new CliError(body.error ?? `agent answered ${response.status}`);
    return body;
  }
}
