import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { makeSelfSignedCertificate } from '../../src/cli/demo/servers.ts';
import { freePort, requireCommand, stop, tempDir, waitFor } from './processes.ts';

/** Status of GET `url`, accepting any certificate; undefined when it cannot connect. */
function httpsStatus(url: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = request(url, { rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

/** A real nginx (Debian) serving files from a temp dir on a loopback port. */
export class NginxProcess {
  readonly port: number;
  readonly root: string;
  private readonly child: ChildProcess;

  private constructor(port: number, root: string, child: ChildProcess) {
    this.port = port;
    this.root = root;
    this.child = child;
  }

  /** `files` maps a path under the web root to its content. */
  /**
   * `files` maps a path under the web root to its content. `tls`: serve HTTPS
   * only, with a self-signed certificate made here by the openssl CLI.
   */
  static async start(files: Record<string, string | Buffer>, options: { sendfile?: boolean; workers?: number; tls?: boolean } = {}): Promise<NginxProcess> {
    const nginx = requireCommand('nginx', 'nginx-light');
    const dir = tempDir('nginx');
    chmodSync(dir, 0o755); // nginx workers run as an unprivileged user and must read the web root
    const root = join(dir, 'www');
    mkdirSync(root, { recursive: true });
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(join(root, path, '..'), { recursive: true });
      writeFileSync(join(root, path), content);
    }
    const port = await freePort();
    let tlsConfig = '';
    if (options.tls === true) {
      const { cert, key } = await makeSelfSignedCertificate(requireCommand('openssl', 'openssl'), dir);
      tlsConfig = `ssl_certificate ${cert};\n    ssl_certificate_key ${key};`;
    }
    writeFileSync(join(dir, 'nginx.conf'), `
daemon off;
master_process on;
worker_processes ${options.workers ?? 1};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile ${options.sendfile === false ? 'off' : 'on'};
  keepalive_requests 100000;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  default_type application/octet-stream;
  types { text/html html; application/json json; text/plain txt; }
  server {
    listen 127.0.0.1:${port}${options.tls === true ? ' ssl' : ''};
    ${tlsConfig}
    root ${root};
    location = /echo-status { return 418 "teapot\\n"; }
    location = /no-content { return 204; }
    location = /server-error { return 500 "broken\\n"; }
    location = /unavailable { return 503 "busy\\n"; }
  }
}
`);
    const child = spawn(nginx, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
    await waitFor(`nginx on port ${port}`, async () => {
      if (child.exitCode !== null) throw new Error(`nginx exited ${child.exitCode}: ${stderr.trim()}`);
      if (options.tls === true) return (await httpsStatus(`https://127.0.0.1:${port}/no-content`)) === 204 ? true : undefined;
      const res = await fetch(`http://127.0.0.1:${port}/no-content`).catch(() => undefined);
      return res?.status === 204 ? true : undefined;
    });
    return new NginxProcess(port, root, child);
  }

  async stop(): Promise<void> {
    await stop(this.child);
  }
}
