// The demo's workload: a small Node HTTP server and a keep-alive client in
// one process (separate from the agent, which never traces itself), plus
// PostgreSQL, MariaDB, Redis, DNS and HTTPS traffic when those servers are
// installed (db-workload.ts, redis-dns-workload.ts, tls-workload.ts).
//
// Usage: workload.ts DIR. DIR (made by `wisp demo`) holds every server's
// files. Prints the HTTP server's port on stdout, then runs until SIGTERM or
// until its stdin closes (the demo is gone), stopping its servers and
// removing DIR on the way out. The demo starts this process as the leader of
// its own process group, which the servers inherit, and on stop signals that
// whole group and removes DIR: servers left behind by a crash of this process
// are stopped too.
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { startDatabaseTraffic } from './db-workload.ts';
import { startRedisAndDnsTraffic } from './redis-dns-workload.ts';
import type { DatabaseServer } from './servers.ts';
import { startTlsTraffic } from './tls-workload.ts';

function usage(): never {
  process.stderr.write('usage: workload.ts DIR (started by wisp demo)\n');
  process.exit(2);
}
const dir = process.argv[2] ?? usage();

const ROUTES = [
  { method: 'GET', path: '/' },
  { method: 'GET', path: '/api/users/42' },
  { method: 'GET', path: '/api/users/7?fields=name' },
  { method: 'POST', path: '/api/orders' },
  { method: 'GET', path: '/api/stream' },
  { method: 'GET', path: '/api/slow' },
  { method: 'GET', path: '/missing' },
  { method: 'DELETE', path: '/api/orders/9' },
] as const;

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const url = req.url ?? '/';
    if (url === '/api/orders' && req.method === 'POST') {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 9, received: Buffer.concat(chunks).length }));
    } else if (url.startsWith('/api/users/')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: Number(url.split('/')[3]?.split('?')[0]), name: 'Ada' }));
    } else if (url === '/api/stream') {
      // No content-length: Node sends a chunked response.
      res.writeHead(200, { 'content-type': 'text/plain' });
      let i = 0;
      const timer = setInterval(() => {
        res.write(`part ${i}\n`);
        if (++i === 3) { clearInterval(timer); res.end(); }
      }, 5);
    } else if (url === '/api/slow') {
      setTimeout(() => { res.writeHead(200); res.end('slow'); }, 40);
    } else if (url === '/api/orders/9' && req.method === 'DELETE') {
      res.writeHead(204);
      res.end();
    } else if (url === '/') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<h1>wisp demo</h1>');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    }
  });
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${port}\n`);
  const agent = new Agent({ keepAlive: true, maxSockets: 2 });
  let next = 0;
  const fire = (): void => {
    const route = ROUTES[next++ % ROUTES.length]!;
    const body = route.method === 'POST' ? JSON.stringify({ item: 'book', quantity: next % 5 + 1 }) : undefined;
    const req = request({ host: '127.0.0.1', port, path: route.path, method: route.method, agent,
      headers: body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {} }, (res) => {
      res.resume();
    });
    req.on('error', () => { /* the demo keeps going */ });
    req.end(body);
  };
  setInterval(fire, 150);
});

const servers: ChildProcess[] = [];
const databases: DatabaseServer[] = [];
void startRedisAndDnsTraffic(dir, servers);
void startDatabaseTraffic(dir, databases);
void startTlsTraffic(join(dir, 'nginx-tls'), servers).catch((error: Error) => process.stderr.write(`wisp demo: no HTTPS traffic: ${error.message}\n`));

/** How long the servers get to shut down before this process leaves them (to the demo's SIGKILL, if it still runs). */
const STOP_GRACE_MS = 10_000;
let exiting = false;

/**
 * Shuts every server down, waits for them and removes DIR. The demo does the
 * same for the whole process group after a SIGTERM; this matters when the demo
 * itself died (stdin closed) and nobody else is left to clean up.
 */
async function exit(): Promise<void> {
  if (exiting) return;
  exiting = true;
  const children = [...servers.map((child) => ({ child, signal: 'SIGTERM' as const })), ...databases.map((db) => ({ child: db.child, signal: db.stopSignal }))];
  const exited = children.map(({ child, signal }) => {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    return done;
  });
  await Promise.race([Promise.all(exited), new Promise((resolve) => setTimeout(resolve, STOP_GRACE_MS))]);
  // A server still writing into DIR would make the removal fail: kill what is left, then retry it.
  for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.race([Promise.all(exited), new Promise((resolve) => setTimeout(resolve, 2000))]);
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  } catch (error) {
    process.stderr.write(`wisp demo: cannot remove ${dir}: ${(error as Error).message}\n`);
  }
  process.exit(0);
}
process.on('SIGTERM', () => void exit());
process.stdin.on('end', () => void exit());
process.stdin.resume();
