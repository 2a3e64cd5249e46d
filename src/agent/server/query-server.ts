import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tableToIPC } from 'apache-arrow';
import {
  ARROW_STREAM_TYPE, compileScript, encodeFragmentResult, executeLocal, resultToJson, runFragment, QueryError, type CompiledQuery, type PlanNode,
} from '../../query/index.ts';
import type { TableStore } from '../store/table-store.ts';

export const DEFAULTS = Object.freeze({
  maxScriptBytes: 1024 * 1024,
  maxOutputRows: 10_000,
});

/** Self-metrics in Prometheus text format, provided by the agent. */
export type MetricsRenderer = () => string;

export interface QueryServerOptions {
  store: TableStore;
  /** host:port; standalone agents bind loopback only. */
  listen: string;
  metrics: MetricsRenderer;
  nowNs: () => bigint;
  maxOutputRows?: number;
}

/**
 * The agent's HTTP API:
 *   POST /api/v1/query   {"script": "...", "output"?: "name"} → {"outputs": [...]} | 400 {"error": "line:col: ..."}
 *                        with `accept: application/vnd.apache.arrow.stream`: one output (the named one, or
 *                        the only one) as an Arrow IPC stream; header x-wisp-truncated says if rows were cut
 *   POST /api/v1/fragment {"planVersion": 1, "fragment": PlanNode} → the node fragment's result over this
 *                        agent's tables as an Arrow IPC stream (what the cluster query endpoint fans out)
 *   GET  /api/v1/tables  per-table schema, rows, bytes, oldest row, counters
 *   GET  /metrics        Prometheus text
 *   GET  /healthz
 */
export class QueryServer {
  private readonly options: QueryServerOptions;
  private readonly server: Server;

  constructor(options: QueryServerOptions) {
    this.options = options;
    this.server = createServer((req, res) => this.handle(req, res));
  }

  async start(): Promise<AddressInfo> {
    const { host, port } = parseListen(this.options.listen);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', (cause) => reject(new Error(`listen on ${this.options.listen}`, { cause })));
      this.server.listen(port, host, () => resolve());
    });
    return this.server.address() as AddressInfo;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'POST' && path === '/api/v1/query') {
      const arrow = (req.headers.accept ?? '').includes(ARROW_STREAM_TYPE);
      this.readBody(req, res, (body) => this.query(body, res, arrow));
    } else if (req.method === 'POST' && path === '/api/v1/fragment') {
      this.readBody(req, res, (body) => this.fragment(body, res));
    } else if (req.method === 'GET' && path === '/api/v1/tables') {
      sendJson(res, 200, { tables: this.options.store.stats().map((t) => ({ ...t, oldestTimeNs: t.oldestTimeNs?.toString() ?? null })) });
    } else if (req.method === 'GET' && path === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(this.options.metrics());
    } else if (req.method === 'GET' && path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
    } else {
      sendJson(res, 404, { error: `no route ${req.method} ${path}` });
    }
  }

  private readBody(req: IncomingMessage, res: ServerResponse, then: (body: string) => void): void {
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > DEFAULTS.maxScriptBytes && !refused) {
        refused = true;
        sendJson(res, 413, { error: `script larger than ${DEFAULTS.maxScriptBytes} bytes` });
        req.destroy();
      } else if (!refused) chunks.push(chunk);
    });
    req.on('end', () => { if (!refused) then(Buffer.concat(chunks).toString('utf8')); });
    req.on('error', () => { /* client went away; nothing to answer */ });
  }

  private query(body: string, res: ServerResponse, arrow: boolean): void {
    let script: unknown;
    let outputName: unknown;
    try {
      ({ script, output: outputName } = JSON.parse(body) as { script?: unknown; output?: unknown });
    } catch {
      sendJson(res, 400, { error: 'request body is not JSON' });
      return;
    }
    if (typeof script !== 'string') {
      sendJson(res, 400, { error: 'request body needs a "script" string' });
      return;
    }
    try {
      const compiled = compileScript(script, this.options.store, { nowNs: this.options.nowNs() });
      const result = executeLocal(compiled, this.options.store, { maxOutputRows: this.options.maxOutputRows ?? DEFAULTS.maxOutputRows });
      if (!arrow) {
        sendJson(res, 200, resultToJson(result));
        return;
      }
      const names = result.outputs.map((o) => o.name);
      const chosen = typeof outputName === 'string'
        ? result.outputs.find((o) => o.name === outputName)
        : result.outputs.length === 1 ? result.outputs[0] : undefined;
      if (!chosen) {
        const why = typeof outputName === 'string' ? `no output named ${JSON.stringify(outputName)}` : `the script has ${names.length} outputs`;
        sendJson(res, 400, { error: `${why}; pick one of: ${names.join(', ') || '(none)'}` });
        return;
      }
      const bytes = tableToIPC(chosen.table, 'stream');
      res.writeHead(200, { 'content-type': ARROW_STREAM_TYPE, 'content-length': bytes.byteLength, 'x-wisp-output': chosen.name, 'x-wisp-truncated': String(chosen.truncated) });
      res.end(bytes);
    } catch (error) {
      if (error instanceof QueryError) {
        sendJson(res, 400, { error: error.toString(), line: error.line, column: error.column });
      } else {
        sendJson(res, 500, { error: `run script: ${(error as Error).message}` });
      }
    }
  }
  /**
   * Runs one node fragment compiled by a query endpoint. The plan is data
   * from the network: a malformed one fails this request with a reason and
   * never the agent.
   */
  private fragment(body: string, res: ServerResponse): void {
    let request: { planVersion?: unknown; fragment?: unknown };
    try {
      request = JSON.parse(body) as typeof request;
    } catch {
      sendJson(res, 400, { error: 'request body is not JSON' });
      return;
    }
    const planVersion: CompiledQuery['planVersion'] = 1;
    if (request.planVersion !== planVersion) {
      sendJson(res, 400, { error: `plan version ${String(request.planVersion)} is not this agent's (${planVersion})` });
      return;
    }
    const node = request.fragment as PlanNode | undefined;
    if (typeof node !== 'object' || node === null || !Array.isArray((node as { columns?: unknown }).columns)) {
      sendJson(res, 400, { error: 'request needs a "fragment" plan node' });
      return;
    }
    try {
      const bytes = encodeFragmentResult(node, runFragment(node, { source: this.options.store }));
      res.writeHead(200, { 'content-type': ARROW_STREAM_TYPE, 'content-length': bytes.byteLength });
      res.end(bytes);
    } catch (error) {
      sendJson(res, 400, { error: `run fragment: ${(error as Error).message}` });
    }
  }
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function parseListen(listen: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(listen);
  if (!match) throw new Error(`parse listen address ${JSON.stringify(listen)}: want host:port`);
  const port = Number(match[3]);
  if (port > 65535) throw new Error(`parse listen address ${JSON.stringify(listen)}: port out of range`);
  return { host: match[1] ?? match[2]!, port };
}
