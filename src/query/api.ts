// The query API's request and output selection, shared by the agent's
// server and the cluster query endpoint so both answer alike.
import type { QueryOutput, QueryResult } from './local.executor.ts';

export interface QueryRequest {
  readonly script: string;
  /** For Arrow answers: which output (px.display name). */
  readonly output?: string;
}

/** Parses `{"script": "...", "output"?: "name"}`; a string is the one-line reason it is not one. */
export function parseQueryRequest(body: string): QueryRequest | string {
  let request: { script?: unknown; output?: unknown };
  try {
    request = JSON.parse(body) as typeof request;
  } catch {
    return 'request body is not JSON';
  }
  if (typeof request?.script !== 'string') return 'request body needs a "script" string';
  return typeof request.output === 'string' ? { script: request.script, output: request.output } : { script: request.script };
}

/** The output an Arrow answer carries: the named one, or the only one; a string says why there is none. */
export function pickOutput(result: QueryResult, name: string | undefined): QueryOutput | string {
  const names = result.outputs.map((o) => o.name);
  const chosen = name !== undefined ? result.outputs.find((o) => o.name === name) : result.outputs.length === 1 ? result.outputs[0] : undefined;
  if (chosen) return chosen;
  const why = name !== undefined ? `no output named ${JSON.stringify(name)}` : `the script has ${names.length} outputs`;
  return `${why}; pick one of: ${names.join(', ') || '(none)'}`;
}
