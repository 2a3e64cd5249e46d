// One keep-alive connection pool for every API client made from a KubeConfig.
//
// client-node 2 builds a new undici Agent for every request
// (KubeConfig.applySecurityAuthentication → createDispatcher), so every
// request paid for a new TCP connection and TLS handshake. shareConnections()
// memoizes that dispatcher per connection configuration (CA, client
// certificate and key, TLS server name, proxy): requests reuse warm keep-alive
// connections. Credentials sent as headers (tokens) are still read per
// request. When the configuration changes (e.g. a client certificate file was
// rotated) a new dispatcher is made and the old one is closed gracefully
// (requests in flight, including watches, finish on it).
import type { KubeConfig } from '@kubernetes/client-node';

type CreateDispatcher = (cluster: unknown, agentOptions: object) => unknown;

interface Closable { close(): Promise<void> }

const SHARED = Symbol('wisp.sharedConnections');

/** Makes every client created from `kc` share one connection pool; idempotent. Returns `kc`. */
export function shareConnections(kc: KubeConfig): KubeConfig {
  const target = kc as unknown as { createDispatcher?: CreateDispatcher; [SHARED]?: true };
  const original = target.createDispatcher;
  // A client-node without the hook: requests keep working, unshared.
  if (typeof original !== 'function' || target[SHARED]) return kc;
  let cached: { options: unknown; dispatcher: unknown } | undefined;
  target.createDispatcher = (cluster, agentOptions) => {
    const options = kc.createDispatcherOptions(cluster as never, agentOptions as never);
    if (cached && sameValue(cached.options, options)) return cached.dispatcher;
    const previous = cached?.dispatcher;
    const dispatcher = original.call(kc, cluster, agentOptions);
    cached = { options, dispatcher };
    if (isClosable(previous)) previous.close().catch(() => { /* best effort */ });
    return dispatcher;
  };
  target[SHARED] = true;
  return kc;
}

function isClosable(value: unknown): value is Closable {
  return typeof value === 'object' && value !== null && typeof (value as Partial<Closable>).close === 'function';
}

/** Structural equality for option objects: Buffers by content, functions by identity. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Buffer.isBuffer(a) || Buffer.isBuffer(b)) return Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b);
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
