import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { BodyTooLargeError, listen, readBody, sendJson } from '../../common/http-server.ts';
import type { AddressInfo } from 'node:net';
import { tableToIPC } from 'apache-arrow';
import { builtinTables } from '../../tables/index.ts';
import type { Chunk } from '../expression.evaluator.ts';
import { parseQueryRequest, pickOutput } from '../api.ts';
import { ARROW_STREAM_TYPE, decodeFragmentResult } from '../fragment.codec.ts';
import { executeMerge } from '../local.executor.ts';
import type { CompiledQuery } from '../plan.ts';
import { compileScript } from '../pxl.compiler.ts';
import { QueryError } from '../query-error.ts';
import { resultToJson } from '../result-json.ts';
import { AccessError, bearerToken, type AccessControl, type RowScope } from '../../common/access-control.ts';
import type { AgentAddress, AgentDirectory } from './agent-directory.ts';
import { scopeToNamespaces } from './row-scope.ts';

export const DEFAULTS = Object.freeze({
  listen: '127.0.0.1:7080',
  /** Longest wait for one agent's node fragment result. */
  agentTimeoutMs: 20_000,
  /** Largest node fragment result taken from one agent (a bigger one fails that agent, counted in the report). */
  maxAgentResultBytes: 64 * 1024 * 1024,
  maxScriptBytes: 1024 * 1024,
  maxOutputRows: 10_000,
});

export interface QueryEndpointOptions {
  directory: AgentDirectory;
  /** Who may query what. Absent only for a loopback-bound endpoint in tests of the merge alone. */
  access?: AccessControl;
  listen?: string;
  agentTimeoutMs?: number;
  maxAgentResultBytes?: number;
  maxOutputRows?: number;
  nowNs?: () => bigint;
  /**
   * The `authorization` header the endpoint presents to agents (its own
   * ServiceAccount token, read per request: projected tokens rotate).
   */
  agentAuthorization?: () => Promise<string | undefined>;
}

/** What one agent contributed to a query: nothing is hidden when it failed. */
export interface AgentReport {
  node: string;
  address?: string;
  ok: boolean;
  error?: string;
}

/**
 * The cluster query endpoint: compiles a script once, sends each output's
 * node fragments to every live agent in parallel (bounded in time and bytes
 * per agent), merges their partial results, and answers like an agent does,
 * plus `agents`: one report per agent, failures included, so partial results
 * are never mistaken for whole ones.
 */
export class QueryEndpoint {
  private readonly options: Required<Omit<QueryEndpointOptions, 'nowNs' | 'access' | 'agentAuthorization'>> & Pick<QueryEndpointOptions, 'access' | 'agentAuthorization'> & { nowNs: () => bigint };
  private readonly server: Server;

  constructor(options: QueryEndpointOptions) {
    this.options = {
      listen: DEFAULTS.listen,
      agentTimeoutMs: DEFAULTS.agentTimeoutMs,
      maxAgentResultBytes: DEFAULTS.maxAgentResultBytes,
      maxOutputRows: DEFAULTS.maxOutputRows,
      nowNs: () => BigInt(Date.now()) * 1_000_000n,
      ...options,
    };
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  start(): Promise<AddressInfo> {
    return listen(this.server, this.options.listen);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Runs a script across the cluster (also used directly by tests). */
  async run(script: string, scope: RowScope = { allNamespaces: true, namespaces: [] }): Promise<{ compiled: CompiledQuery; result: ReturnType<typeof executeMerge>; agents: AgentReport[] }> {
    const compiled = scopeToNamespaces(
      compileScript(script, { getTable: (name) => builtinTables.get(name) }, { nowNs: this.options.nowNs() }),
      scope,
    );
    const listing = await this.options.directory.list();
    const agents: AgentReport[] = listing.unreachable.map((u) => ({ node: u.node, ok: false, error: u.error }));
    // results[output][fragment] = chunks from every agent that answered.
    const results: Chunk[][][] = compiled.outputs.map((o) => o.nodeFragments.map(() => []));
    await Promise.all(listing.reachable.map(async (agent) => {
      try {
        const perAgent = await Promise.all(compiled.outputs.map((output) => Promise.all(
          output.nodeFragments.map(async (fragment) => decodeFragmentResult(fragment, await this.fetchFragment(agent, compiled.planVersion, fragment))),
        )));
        // Only an agent that answered every fragment contributes, so each agent's rows count once or not at all.
        perAgent.forEach((fragments, o) => fragments.forEach((chunks, f) => results[o]![f]!.push(...chunks)));
        agents.push({ node: agent.node, address: agent.address, ok: true });
      } catch (error) {
        agents.push({ node: agent.node, address: agent.address, ok: false, error: (error as Error).message });
      }
    }));
    agents.sort((a, b) => a.node.localeCompare(b.node));
    const result = executeMerge(compiled, (output, fragment) => results[output]?.[fragment] ?? [], { maxOutputRows: this.options.maxOutputRows });
    return { compiled, result, agents };
  }

  /** Authenticates the request's bearer token and works out which rows it may read. */
  private async authorize(req: IncomingMessage): Promise<RowScope> {
    const access = this.options.access;
    if (!access) return { allNamespaces: true, namespaces: [] };
    const requester = await access.authenticate(bearerToken(req.headers.authorization));
    return access.scope(requester);
  }

  private async fetchFragment(agent: AgentAddress, planVersion: number, fragment: unknown): Promise<Uint8Array> {
    let response: Response;
    try {
      const authorization = await this.options.agentAuthorization?.();
      response = await fetch(`http://${agent.address}/api/v1/fragment`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: ARROW_STREAM_TYPE, ...(authorization && { authorization }) },
        body: JSON.stringify({ planVersion, fragment }),
        signal: AbortSignal.timeout(this.options.agentTimeoutMs),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause;
      const timedOut = (error as Error).name === 'TimeoutError';
      throw new Error(`reach agent: ${cause?.code ?? (timedOut ? `no answer within ${this.options.agentTimeoutMs} ms` : (error as Error).message)}`);
    }
    if (!response.ok) {
      const text = await response.text().catch(() => '');
      let reason = `answered ${response.status}`;
      try { reason = (JSON.parse(text) as { error?: string }).error ?? reason; } catch { /* keep the status */ }
      throw new Error(`agent refused the fragment: ${reason}`);
    }
    return readBounded(response, this.options.maxAgentResultBytes);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
      return;
    }
    if (req.method !== 'POST' || path !== '/api/v1/query') {
      sendJson(res, 404, { error: `no route ${req.method} ${path}` });
      return;
    }
    let body: string;
    try {
      body = await readBody(req, DEFAULTS.maxScriptBytes, 'script');
    } catch (error) {
      // A client that went away has nothing left to answer.
      if (error instanceof BodyTooLargeError) sendJson(res, 413, { error: error.message });
      return;
    }
    const request = parseQueryRequest(body);
    if (typeof request === 'string') {
      sendJson(res, 400, { error: request });
      return;
    }
    let scope: RowScope | undefined;
    try {
      scope = await this.authorize(req);
    } catch (error) {
      if (error instanceof AccessError) sendJson(res, error.status, { error: error.message });
      else sendJson(res, 502, { error: `check access with the API server: ${(error as Error).message}` });
      return;
    }
    try {
      const { result, agents } = await this.run(request.script, scope);
      const failed = agents.filter((a) => !a.ok);
      const header = { 'x-wisp-agents': String(agents.length), 'x-wisp-agents-failed': String(failed.length) };
      if (!(req.headers.accept ?? '').includes(ARROW_STREAM_TYPE)) {
        sendJson(res, 200, { ...resultToJson(result), agents }, header);
        return;
      }
      const chosen = pickOutput(result, request.output);
      if (typeof chosen === 'string') {
        sendJson(res, 400, { error: chosen });
        return;
      }
      const bytes = tableToIPC(chosen.table, 'stream');
      res.writeHead(200, { ...header, 'content-type': ARROW_STREAM_TYPE, 'content-length': bytes.byteLength, 'x-wisp-truncated': String(chosen.truncated),
        'x-wisp-agent-errors': JSON.stringify(failed.map((a) => `${a.node}: ${a.error}`)) });
      res.end(bytes);
    } catch (error) {
      if (error instanceof QueryError) sendJson(res, 400, { error: error.toString(), line: error.line, column: error.column });
      else sendJson(res, 502, { error: `run script across agents: ${(error as Error).message}` });
    }
  }
}

async function readBounded(response: Response, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > maxBytes) {
    await response.body?.cancel();
    throw new Error(`agent result of ${declared} bytes exceeds the ${maxBytes}-byte bound`);
  }
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const part of response.body ?? []) {
    total += (part as Uint8Array).byteLength;
    if (total > maxBytes) throw new Error(`agent result exceeds the ${maxBytes}-byte bound`);
    parts.push(part as Uint8Array);
  }
  return Buffer.concat(parts);
}
