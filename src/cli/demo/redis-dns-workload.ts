// The demo's Redis and DNS traffic, when the machine has the servers
// (Debian redis-server and dnsmasq-base): each server runs on a free
// loopback port as a child of the workload process, with a dir under the
// demo's temp dir and static records only, and this process keeps querying
// it. Absent servers are skipped with a note on stderr; the HTTP workload
// runs regardless.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { findExecutable, freePort } from './servers.ts';

/** Redis commands and pub/sub every REDIS_INTERVAL_MS, DNS questions every DNS_INTERVAL_MS. */
const REDIS_INTERVAL_MS = 500;
const DNS_INTERVAL_MS = 700;
const DNS_DOMAIN = 'demo.wisp';

function command(...words: string[]): string {
  return `*${words.length}\r\n${words.map((w) => `$${Buffer.byteLength(w)}\r\n${w}\r\n`).join('')}`;
}

/** Connects once the server listens (it needs a moment after spawn). */
async function connectWhenUp(port: number, attempts = 50): Promise<Socket> {
  for (let i = 0; ; i++) {
    try {
      return await new Promise<Socket>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => resolve(socket));
        socket.once('error', reject);
      });
    } catch (error) {
      if (i >= attempts) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function startRedis(dir: string, children: ChildProcess[]): Promise<void> {
  const binary = findExecutable('redis-server');
  if (binary === undefined) {
    process.stderr.write('wisp demo: redis-server not found (Debian redis-server): no Redis traffic\n');
    return;
  }
  const port = await freePort();
  mkdirSync(dir, { recursive: true });
  children.push(spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
    '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--logfile', ''], { stdio: 'ignore' }));
  const client = await connectWhenUp(port);
  const subscriber = await connectWhenUp(port);
  for (const socket of [client, subscriber]) {
    socket.on('data', () => { /* replies are what the agent captures */ });
    socket.on('error', () => { /* the demo keeps going */ });
  }
  subscriber.write(command('SUBSCRIBE', 'demo:news'));
  let n = 0;
  setInterval(() => {
    n++;
    // Several commands in one write (pipelined), an error reply, and a published message.
    client.write(command('SET', 'demo:user:42', `{"name":"Ada","visits":${n}}`) + command('INCR', 'demo:visits') + command('GET', 'demo:user:42'));
    if (n % 4 === 0) client.write(command('HGET', 'demo:user:42', 'name'));
    if (n % 3 === 0) client.write(command('PUBLISH', 'demo:news', `update ${n}`));
  }, REDIS_INTERVAL_MS);
}

async function startDns(children: ChildProcess[]): Promise<void> {
  const binary = findExecutable('dnsmasq');
  if (binary === undefined) {
    process.stderr.write('wisp demo: dnsmasq not found (Debian dnsmasq-base): no DNS traffic\n');
    return;
  }
  const port = await freePort();
  children.push(spawn(binary, ['--keep-in-foreground', '--conf-file=/dev/null', `--port=${port}`, '--listen-address=127.0.0.1',
    '--bind-interfaces', '--no-resolv', '--no-hosts', '--pid-file=', `--local=/${DNS_DOMAIN}/`,
    `--host-record=api.${DNS_DOMAIN},10.0.0.10,fd00::10`, `--cname=www.${DNS_DOMAIN},api.${DNS_DOMAIN}`], { stdio: 'ignore' }));
  const resolver = new Resolver({ timeout: 1000, tries: 1 });
  resolver.setServers([`127.0.0.1:${port}`]);
  const questions: (() => Promise<unknown>)[] = [
    () => resolver.resolve4(`api.${DNS_DOMAIN}`),
    () => resolver.resolve6(`api.${DNS_DOMAIN}`),
    () => resolver.resolveCname(`www.${DNS_DOMAIN}`),
    () => resolver.resolve4(`missing.${DNS_DOMAIN}`), // NXDOMAIN
  ];
  let n = 0;
  setInterval(() => {
    questions[n++ % questions.length]!().catch(() => { /* NXDOMAIN and timeouts are part of the show */ });
  }, DNS_INTERVAL_MS);
}

/**
 * Starts what the machine has (Redis's dir under `dir`); each server process
 * is pushed to `children` as soon as it is spawned, so that a stop in the
 * middle of startup still finds it.
 */
export async function startRedisAndDnsTraffic(dir: string, children: ChildProcess[]): Promise<void> {
  await Promise.all([
    startRedis(join(dir, 'redis'), children).catch((error: Error) => process.stderr.write(`wisp demo: no Redis traffic: ${error.message}\n`)),
    startDns(children).catch((error: Error) => process.stderr.write(`wisp demo: no DNS traffic: ${error.message}\n`)),
  ]);
}
