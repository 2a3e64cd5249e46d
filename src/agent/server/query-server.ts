import { AccessError } from '../../common/access-control.ts';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tableToIPC } from 'apache-arrow';
import { BodyTooLargeError, listen, readBody, sendJson } from '../../common/http-server.ts';
import {
  ARROW_STREAM_TYPE, compileScript, encodeFragmentResult, executeLocal, parseQueryRequest, pickOutput, resultToJson, runFragment, QueryError,
  type CompiledQuery, type MetadataResolver, type PlanNode,
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
  /** Kubernetes context for df.ctx[...] and the upid/pod/ip look-ups; none resolves to ''. */
  metadata?: MetadataResolver;
  /**
   * Checks the `authorization` header of query and fragment requests
   * (rejects with AccessError); absent on standalone agents, which bind
   * loopback only.
   */
  authorize?: (authorization: string | undefined) => Promise<unknown>;
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

  start(): Promise<AddressInfo> {
    return listen(this.server, this.options.listen);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'POST' && path === '/api/v1/query') {
      const arrow = (req.headers.accept ?? '').includes(ARROW_STREAM_TYPE);
      this.authorized(req, res, () => this.readBody(req, res, (body) => this.query(body, res, arrow)));
    } else if (req.method === 'POST' && path === '/api/v1/fragment') {
      this.authorized(req, res, () => this.readBody(req, res, (body) => this.fragment(body, res), 'fragment'));
    } else if (req.method === 'GET' && path === '/api/v1/tables') {
      sendJson(res, 200, { tables: this.options.store.stats().map((t) => ({ ...t, oldestTimeNs: t.oldestTimeNs?.toString() ?? null, maxAgeNs: t.maxAgeNs.toString() })) });
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

  /** Runs `then` once the caller may read rows (cluster agents check the bearer token; standalone ones bind loopback only). */
  private authorized(req: IncomingMessage, res: ServerResponse, then: () => void): void {
    const authorize = this.options.authorize;
    if (!authorize) {
      then();
      return;
    }
    authorize(req.headers.authorization).then(then, (error: unknown) => {
      if (error instanceof AccessError) sendJson(res, error.status, { error: error.message });
      else sendJson(res, 503, { error: `check the caller's token: ${(error as Error).message.split('\n')[0]}` });
    });
  }

  private readBody(req: IncomingMessage, res: ServerResponse, then: (body: string) => void, what = 'script'): void {
    readBody(req, DEFAULTS.maxScriptBytes, what).then(then, (error: unknown) => {
      // A client that went away has nothing left to answer.
      if (error instanceof BodyTooLargeError) sendJson(res, 413, { error: error.message });
    });
  }

  private query(body: string, res: ServerResponse, arrow: boolean): void {
    const request = parseQueryRequest(body);
    if (typeof request === 'string') {
      sendJson(res, 400, { error: request });
      return;
    }
    try {
      const compiled = compileScript(request.script, this.options.store, { nowNs: this.options.nowNs() });
      const result = executeLocal(compiled, this.options.store, {
        maxOutputRows: this.options.maxOutputRows ?? DEFAULTS.maxOutputRows,
        ...(this.options.metadata && { metadata: this.options.metadata }),
      });
      if (!arrow) {
        sendJson(res, 200, resultToJson(result));
        return;
      }
      const chosen = pickOutput(result, request.output);
      if (typeof chosen === 'string') {
        sendJson(res, 400, { error: chosen });
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
      const bytes = encodeFragmentResult(node, runFragment(node, { source: this.options.store, ...(this.options.metadata && { metadata: this.options.metadata }) }));
      res.writeHead(200, { 'content-type': ARROW_STREAM_TYPE, 'content-length': bytes.byteLength });
      res.end(bytes);
    } catch (error) {
      sendJson(res, 400, { error: `run fragment: ${(error as Error).message}` });
    }
  }
}
