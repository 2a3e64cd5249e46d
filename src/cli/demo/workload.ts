// The demo's HTTP workload: a small Node server and a keep-alive client in
// one process (separate from the agent, which never traces itself), plus
// Redis and DNS traffic when those servers are installed
// (redis-dns-workload.ts). Prints the HTTP server's port on stdout, then runs
// until killed.
import type { ChildProcess } from 'node:child_process';
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startRedisAndDnsTraffic } from './redis-dns-workload.ts';

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

let servers: ChildProcess[] = [];
void startRedisAndDnsTraffic().then((started) => { servers = started; });

process.on('SIGTERM', () => {
  for (const child of servers) child.kill('SIGTERM');
  process.exit(0);
});
