import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { freePort, requireCommand, stop, tempDir, waitFor } from './processes.ts';

/** A real redis-server (Debian) on a free loopback port, with a temp dir and no persistence; no systemd. */
export class RedisProcess {
  readonly port: number;
  private readonly child: ChildProcess;

  private constructor(port: number, child: ChildProcess) {
    this.port = port;
    this.child = child;
  }

  static async start(): Promise<RedisProcess> {
    const redis = requireCommand('redis-server', 'redis-server');
    const dir = tempDir('redis');
    const port = await freePort();
    const child = spawn(redis, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no',
      '--daemonize', 'no', '--protected-mode', 'no', '--logfile', ''], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
    await waitFor(`redis-server on port ${port}`, async () => {
      if (child.exitCode !== null) throw new Error(`redis-server exited ${child.exitCode}: ${stderr.trim()}`);
      return (await RedisConnection.open(port).then(async (c) => { const r = await c.send('PING'); c.close(); return r; }).catch(() => undefined)) === '+PONG\r\n' ? true : undefined;
    });
    return new RedisProcess(port, child);
  }

  async stop(): Promise<void> {
    await stop(this.child);
  }
}

/** A raw RESP connection from this process: writes commands as given and returns the reply bytes as text. */
export class RedisConnection {
  private readonly socket: Socket;
  private buffered = '';

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => { this.buffered += d.toString('latin1'); });
  }

  static open(port: number): Promise<RedisConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(new RedisConnection(socket)));
      socket.once('error', reject);
    });
  }

  /** Writes one command and waits for its reply. */
  async send(...words: string[]): Promise<string> {
    return this.write(encode(words), 1);
  }

  /** Writes raw bytes in one write and waits until `replies` replies arrived. */
  async write(bytes: string, replies: number): Promise<string> {
    this.socket.write(bytes);
    return this.read(replies);
  }

  /** Waits until `replies` complete top-level replies are buffered and returns them. */
  async read(replies: number): Promise<string> {
    await waitFor(`${replies} redis replies`, () => (countReplies(this.buffered) >= replies ? true : undefined), 5000);
    const out = this.buffered;
    this.buffered = '';
    return out;
  }

  close(): void {
    this.socket.end();
  }
}

export function encode(words: readonly string[]): string {
  return `*${words.length}\r\n${words.map((w) => `$${Buffer.byteLength(w)}\r\n${w}\r\n`).join('')}`;
}

/** Complete top-level RESP2 replies in `text` (enough for the replies these tests provoke). */
function countReplies(text: string): number {
  let at = 0;
  let count = 0;
  const value = (): boolean => {
    const eol = text.indexOf('\r\n', at);
    if (eol < 0) return false;
    const type = text[at];
    const n = Number(text.slice(at + 1, eol));
    at = eol + 2;
    if (type === '$') {
      if (n < 0) return true;
      if (text.length < at + n + 2) return false;
      at += n + 2;
      return true;
    }
    if (type === '*') {
      for (let i = 0; i < n; i++) if (!value()) return false;
    }
    return true;
  };
  while (at < text.length && value()) count++;
  return count;
}
