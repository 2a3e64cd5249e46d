import type { OutputJson } from './format.ts';

export const DEFAULT_SERVER = 'http://127.0.0.1:7070';

/** An error the CLI prints as one line and exits non-zero with. */
export class CliError extends Error {}

export interface AgentReportJson {
  node: string;
  address?: string;
  ok: boolean;
  error?: string;
}

export interface TableStatsJson {
  name: string;
  columns: { name: string; type: string }[];
  rows: number;
  bytes: number;
  oldestTimeNs: string | null;
  rowsAdded: number;
  rowsExpired: number;
  rowsDropped: number;
  /** By reason (age, bytes, total, removed); absent from older agents. */
  rowsExpiredBy?: Record<string, number>;
  rowsDroppedBy?: Record<string, number>;
  maxBytes?: number;
  /** Decimal ns; "0" = no age limit. */
  maxAgeNs?: string;
}

/** Talks to an agent's query API. */
export class AgentClient {
  readonly server: string;
  readonly timeoutMs: number;
  private readonly token: string | undefined;

  constructor(server: string, options: { timeoutMs?: number; token?: string } = {}) {
    this.server = server.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.token = options.token;
  }

  private headers(extra: Record<string, string>): Record<string, string> {
    return this.token ? { ...extra, authorization: `Bearer ${this.token}` } : extra;
  }

  async query(script: string): Promise<OutputJson[]> {
    return (await this.queryWithReports(script)).outputs;
  }

  /** Outputs, and from a cluster query endpoint one report per agent (failures included). */
  async queryWithReports(script: string): Promise<{ outputs: OutputJson[]; agents: AgentReportJson[] }> {
    const body = await this.request('/api/v1/query', { method: 'POST', body: JSON.stringify({ script }), headers: this.headers({ 'content-type': 'application/json' }) });
    const { outputs, agents } = body as { outputs: OutputJson[]; agents?: AgentReportJson[] };
    return { outputs, agents: agents ?? [] };
  }

  /** One output of the script as an Arrow IPC stream (the named one, or the only one). */
  async queryArrow(script: string, output?: string): Promise<Uint8Array> {
    let response: Response;
    try {
      response = await fetch(`${this.server}/api/v1/query`, {
        method: 'POST',
        headers: this.headers({ 'content-type': 'application/json', accept: 'application/vnd.apache.arrow.stream' }),
        body: JSON.stringify({ script, ...(output !== undefined && { output }) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw this.unreachable(error);
    }
    if (!response.ok) {
      const text = await response.text();
      let message = `agent answered ${response.status}`;
      try { message = (JSON.parse(text) as { error?: string }).error ?? message; } catch { /* keep the status */ }
      throw new CliError(message);
    }
    return new Uint8Array(await response.arrayBuffer());
  }

  async tables(): Promise<TableStatsJson[]> {
    return ((await this.request('/api/v1/tables', { method: 'GET', headers: this.headers({}) })) as { tables: TableStatsJson[] }).tables;
  }

  private async request(path: string, init: RequestInit): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(`${this.server}${path}`, { ...init, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (error) {
      throw this.unreachable(error);
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

  private unreachable(error: unknown): CliError {
    const cause = (error as Error & { cause?: { code?: string; message?: string } }).cause;
    return new CliError(`cannot reach agent at ${this.server}: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
  }
}
