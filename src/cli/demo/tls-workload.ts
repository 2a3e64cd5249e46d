// The demo's HTTPS traffic, when the machine has nginx, openssl and curl
// (Debian nginx-light, openssl, curl): nginx serves a few fixed responses
// over TLS with a self-signed certificate made here, and a new curl process
// every TLS_INTERVAL_MS sends three requests over one connection. Both link
// the host's libssl, so the agent records both sides from the plaintext
// (encrypted = true), and every curl is a process started after the agent.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findExecutable, freePort, makeSelfSignedCertificate } from './servers.ts';

const TLS_INTERVAL_MS = 1000;
const PATHS = ['/api/account', '/api/cart?items=3', '/api/secret'] as const;

function nginxConfig(dir: string, port: number): string {
  return `daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp;
  proxy_temp_path ${dir}/tmp;
  fastcgi_temp_path ${dir}/tmp;
  uwsgi_temp_path ${dir}/tmp;
  scgi_temp_path ${dir}/tmp;
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${dir}/cert.pem;
    ssl_certificate_key ${dir}/key.pem;
    default_type application/json;
    location = /api/account { return 200 '{"user":"ada","plan":"pro"}'; }
    location = /api/cart { return 200 '{"items":3,"total":42.5}'; }
    location / { return 403 '{"error":"forbidden"}'; }
  }
}
`;
}

/**
 * Starts nginx over TLS under `dir` and the curl loop; nginx is pushed to
 * `children` as soon as it is spawned. Skipped with a note on stderr when a
 * tool is missing.
 */
export async function startTlsTraffic(dir: string, children: ChildProcess[]): Promise<void> {
  const tools = { nginx: 'nginx-light', openssl: 'openssl', curl: 'curl' } as const;
  const found: Partial<Record<keyof typeof tools, string>> = {};
  for (const [name, pkg] of Object.entries(tools) as [keyof typeof tools, string][]) {
    found[name] = findExecutable(name);
    if (found[name] === undefined) {
      process.stderr.write(`wisp demo: ${name} not found (Debian ${pkg}): no HTTPS traffic\n`);
      return;
    }
  }
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  chmodSync(dir, 0o755); // nginx's worker runs unprivileged
  await makeSelfSignedCertificate(found.openssl!, dir);
  const port = await freePort();
  writeFileSync(join(dir, 'nginx.conf'), nginxConfig(dir, port));
  children.push(spawn(found.nginx!, ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore' }));
  const urls = PATHS.map((p) => `https://127.0.0.1:${port}${p}`);
  setInterval(() => {
    // -k: the certificate is self-signed; one connection, three requests, output discarded.
    const curl = spawn(found.curl!, ['-k', '-s', '--http1.1', ...urls.flatMap((u) => ['-o', '/dev/null', u])], { stdio: 'ignore' });
    curl.on('error', () => { /* the demo keeps going */ });
  }, TLS_INTERVAL_MS);
}
