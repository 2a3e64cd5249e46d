// HTTP plumbing shared by the agent's query API and the cluster query
// endpoint: listen addresses, bounded request bodies, JSON answers.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** "host:port" or "[v6]:port" → its parts; throws naming the input. */
export function parseListen(listen: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(listen);
  if (!match) throw new Error(`parse listen address ${JSON.stringify(listen)}: want host:port`);
  const port = Number(match[3]);
  if (port > 65535) throw new Error(`parse listen address ${JSON.stringify(listen)}: port out of range`);
  return { host: match[1] ?? match[2]!, port };
}

/** Starts `server` on `listen` (host:port) and returns the bound address. */
export async function listen(server: Server, address: string): Promise<AddressInfo> {
  const { host, port } = parseListen(address);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (cause) => reject(new Error(`listen on ${address}`, { cause })));
    server.listen(port, host, () => resolve());
  });
  return server.address() as AddressInfo;
}

/** A request body over its bound; the caller answers 413. */
export class BodyTooLargeError extends Error {}

/**
 * The request body as UTF-8, at most `maxBytes`. A larger body rejects with
 * BodyTooLargeError and the request is destroyed; a client that goes away
 * rejects with its error (nothing left to answer).
 */
export function readBody(req: IncomingMessage, maxBytes: number, what = 'request body'): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        reject(new BodyTooLargeError(`${what} larger than ${maxBytes} bytes`));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(value);
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
