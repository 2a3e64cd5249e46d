// Integration test of the eBPF socket tracer against real processes: a Node
// HTTP server and curl, both child processes (the tracer ignores only the
// test process itself, its selfPid). Needs root and the built addon; fails,
// never skips, when either is missing.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';

import { ADDON_PATH } from '../../src/agent/bpf/addon.ts';
import { Direction, TraceRole } from '../../src/agent/bpf/events.ts';
import type { ConnCloseEvent, ConnOpenEvent, DataEvent, SocketEventSink } from '../../src/agent/bpf/events.ts';
import { SocketTracer } from '../../src/agent/bpf/socket-tracer.ts';

const LARGE_BODY_BYTES = 256 * 1024;
const MAX_CAPTURE_BYTES = 16 * 1024;

/** Runs in the server child: HTTP on one port, a non-HTTP line echo on another. */
const SERVER_SCRIPT = `
const http = require('node:http');
const net = require('node:net');
const large = Buffer.alloc(${LARGE_BODY_BYTES}, 'x');
const server = http.createServer((req, res) => {
  if (req.url === '/large') { res.setHeader('content-type', 'text/plain'); res.end(large); return; }
  res.setHeader('content-type', 'text/plain');
  res.end('hello from ' + req.url);
});
const echo = net.createServer((socket) => socket.pipe(socket));
server.listen(0, '127.0.0.1', () => echo.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ http: server.address().port, echo: echo.address().port }) + '\\n');
}));
`;

/** Runs in a client child: one non-HTTP exchange. */
const ECHO_CLIENT_SCRIPT = `
const socket = require('node:net').connect(Number(process.argv[1]), '127.0.0.1', () => socket.write('hello wisp\\n'));
socket.on('data', () => socket.end());
`;

interface CapturedData {
  connId: number;
  pid: number;
  direction: number;
  position: number;
  length: number;
  data: Buffer;
}

class CollectingSink implements SocketEventSink {
  readonly opens: ConnOpenEvent[] = [];
  readonly data: CapturedData[] = [];
  readonly closes: ConnCloseEvent[] = [];
  onOpen(event: ConnOpenEvent): void {
    this.opens.push(event);
  }
  onData(event: DataEvent): void {
    // The event and its bytes are only valid during the call: copy.
    this.data.push({ ...event, data: Buffer.from(event.data) });
  }
  onClose(event: ConnCloseEvent): void {
    this.closes.push(event);
  }
  dataOf(connId: number, direction: number): CapturedData[] {
    return this.data.filter((d) => d.connId === connId && d.direction === direction);
  }
}

function requirePrerequisites(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('run the socket tracer test as root: loading eBPF programs needs CAP_BPF and CAP_PERFMON');
  }
  if (!existsSync(ADDON_PATH)) {
    throw new Error(`load native addon: ${ADDON_PATH} is missing; build it with \`make build\``);
  }
}

async function exitOf(child: ChildProcess): Promise<number> {
  if (child.exitCode !== null) return child.exitCode;
  const [code] = (await once(child, 'exit')) as [number | null];
  return code ?? -1;
}

/** Drains until `done` holds or the deadline passes. */
async function drainUntil(tracer: SocketTracer, sink: CollectingSink, done: () => boolean, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    tracer.drain(sink);
    if (done() || Date.now() > deadline) return;
    await sleep(20);
  }
}

function assertContiguous(chunks: CapturedData[], what: string): number {
  let expected = 0;
  for (const chunk of chunks) {
    assert.equal(chunk.position, expected, `${what}: position ${chunk.position} where ${expected} was expected`);
    assert.ok(chunk.data.byteLength <= chunk.length, `${what}: captured more than moved`);
    expected += chunk.length;
  }
  return expected;
}

describe('SocketTracer (eBPF, root)', function () {
  this.timeout(60_000);

  let tracer: SocketTracer;
  let server: ChildProcess;
  let ports: { http: number; echo: number };
  const sink = new CollectingSink();
  let curlPid = 0;
  let echoClientPid = 0;

  before(async () => {
    requirePrerequisites();
    tracer = SocketTracer.open({ selfPid: process.pid, maxCaptureBytes: MAX_CAPTURE_BYTES });

    server = spawn(process.execPath, ['-e', SERVER_SCRIPT], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [line] = (await once(server.stdout!, 'data')) as [Buffer];
    ports = JSON.parse(line.toString()) as { http: number; echo: number };

    // One curl, three keep-alive requests on one connection.
    const base = `http://127.0.0.1:${ports.http}`;
    const curl = spawn('curl', ['-sS', '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null', `${base}/a`, `${base}/b`, `${base}/large`], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    curlPid = curl.pid ?? 0;
    assert.equal(await exitOf(curl), 0, 'curl failed');

    const echoClient = spawn(process.execPath, ['-e', ECHO_CLIENT_SCRIPT, String(ports.echo)], { stdio: 'inherit' });
    echoClientPid = echoClient.pid ?? 0;
    assert.equal(await exitOf(echoClient), 0, 'echo client failed');

    // The server closes its side when it reads the clients' FIN.
    await drainUntil(tracer, sink, () => sink.closes.filter((c) => c.pid === server.pid).length >= 2);
  });

  after(async () => {
    tracer?.close();
    if (server && server.exitCode === null) {
      server.kill();
      await exitOf(server);
    }
  });

  const serverOpen = () => {
    const open = sink.opens.find((o) => o.pid === server.pid && o.localPort === ports.http);
    assert.ok(open, `no CONN_OPEN for the server (pid ${server.pid}) on port ${ports.http}`);
    return open;
  };
  const clientOpen = () => {
    const open = sink.opens.find((o) => o.pid === curlPid && o.remotePort === ports.http);
    assert.ok(open, `no CONN_OPEN for curl (pid ${curlPid}) to port ${ports.http}`);
    return open;
  };

  describe('connection open events', () => {
    it('reports the accepted connection with role server, ports and addresses', () => {
      const open = serverOpen();
      assert.equal(open.role, TraceRole.Server);
      assert.equal(open.family, 4);
      assert.equal(open.localAddr, '127.0.0.1');
      assert.equal(open.remoteAddr, '127.0.0.1');
      assert.ok(open.processStartNs > 0);
    });
    it('reports the connecting side with role client and matching ports', () => {
      const client = clientOpen();
      const srv = serverOpen();
      assert.equal(client.role, TraceRole.Client);
      assert.equal(client.localPort, srv.remotePort);
      assert.equal(client.remoteAddr, '127.0.0.1');
      assert.notEqual(client.connId, srv.connId);
    });
    it('does not report the test process itself', () => {
      assert.equal(
        sink.opens.filter((o) => o.pid === process.pid).length,
        0,
      );
    });
  });

  describe('data events', () => {
    it('carry the request line from the client and the status line from the server', () => {
      const client = clientOpen();
      const srv = serverOpen();
      const clientOut = sink.dataOf(client.connId, Direction.Egress);
      const clientIn = sink.dataOf(client.connId, Direction.Ingress);
      const serverIn = sink.dataOf(srv.connId, Direction.Ingress);
      const serverOut = sink.dataOf(srv.connId, Direction.Egress);
      assert.match(clientOut[0]?.data.toString('latin1') ?? '', /^GET \/a HTTP\/1\.1\r\n/);
      assert.match(serverIn[0]?.data.toString('latin1') ?? '', /^GET \/a HTTP\/1\.1\r\n/);
      assert.match(serverOut[0]?.data.toString('latin1') ?? '', /^HTTP\/1\.1 200 /);
      assert.match(clientIn[0]?.data.toString('latin1') ?? '', /^HTTP\/1\.1 200 /);
      const requests = serverIn.map((d) => d.data.toString('latin1')).join('');
      assert.match(requests, /GET \/b HTTP\/1\.1\r\n[\s\S]*GET \/large HTTP\/1\.1\r\n/, 'keep-alive requests on one connection');
    });

    it('have contiguous positions per direction that add up to the close byte counts', () => {
      for (const open of [clientOpen(), serverOpen()]) {
        const close = sink.closes.find((c) => c.connId === open.connId);
        assert.ok(close, `no CONN_CLOSE for conn ${open.connId} (pid ${open.pid})`);
        const sent = assertContiguous(sink.dataOf(open.connId, Direction.Egress), `conn ${open.connId} egress`);
        const received = assertContiguous(sink.dataOf(open.connId, Direction.Ingress), `conn ${open.connId} ingress`);
        assert.equal(close.bytesSent, sent);
        assert.equal(close.bytesReceived, received);
        assert.equal(close.pid, open.pid);
        assert.equal(close.fd, open.fd);
      }
    });

    it('show a gap when a syscall moves more than maxCaptureBytes, with positions still right', () => {
      const srv = serverOpen();
      const serverOut = sink.dataOf(srv.connId, Direction.Egress);
      const total = assertContiguous(serverOut, 'server egress');
      assert.ok(total > LARGE_BODY_BYTES, `server sent ${total} bytes, expected the large body`);
      const cut = serverOut.filter((d) => d.length > d.data.byteLength);
      assert.ok(cut.length > 0, 'no truncated DATA record for the large response');
      for (const d of cut) assert.equal(d.data.byteLength, MAX_CAPTURE_BYTES);
      assert.ok(tracer.counters()['captureTruncated']! >= cut.length);
    });
  });

  describe('a non-HTTP connection', () => {
    it('is opened and closed but yields no data events', () => {
      const open = sink.opens.find((o) => o.pid === echoClientPid && o.remotePort === ports.echo);
      assert.ok(open, `no CONN_OPEN for the echo client (pid ${echoClientPid})`);
      assert.equal(sink.data.filter((d) => d.connId === open.connId).length, 0);
      const close = sink.closes.find((c) => c.connId === open.connId);
      assert.ok(close, 'no CONN_CLOSE for the echo client');
      assert.equal(close.bytesSent, 'hello wisp\n'.length);
      assert.ok(tracer.counters()['connNotTraced']! >= 2);
    });
  });

  describe('counters', () => {
    it('report no kernel-side loss and no decode errors', () => {
      const c = tracer.counters();
      for (const name of ['ringbufFull', 'connMapFull', 'argsStashFailed', 'decodeUnknownOp', 'decodeShortRecord', 'decodeBadSize']) {
        assert.equal(c[name], 0, `${name} = ${c[name]}`);
      }
      assert.ok(c['recordsDrained']! > 0);
    });
  });
});

describe('SocketTracer with a drain buffer smaller than the pending records (eBPF, root)', function () {
  this.timeout(60_000);

  it('delivers every record across drains (spilled records are not lost)', async () => {
    requirePrerequisites();
    // Just above one maximal record: most drains end with a spilled record.
    const tracer = SocketTracer.open({ selfPid: process.pid, drainBufferBytes: 40 * 1024, maxDrainPasses: 10_000 });
    const sink = new CollectingSink();
    const server = spawn(process.execPath, ['-e', SERVER_SCRIPT], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const [line] = (await once(server.stdout!, 'data')) as [Buffer];
      const { http } = JSON.parse(line.toString()) as { http: number };
      const url = `http://127.0.0.1:${http}/large`;
      const curl = spawn('curl', ['-sS', '-o', '/dev/null', '-o', '/dev/null', url, url], { stdio: ['ignore', 'ignore', 'inherit'] });
      assert.equal(await exitOf(curl), 0, 'curl failed');
      await drainUntil(tracer, sink, () => sink.closes.some((c) => c.pid === server.pid));

      const open = sink.opens.find((o) => o.pid === server.pid);
      assert.ok(open, 'no CONN_OPEN for the server');
      const close = sink.closes.find((c) => c.connId === open.connId);
      assert.ok(close, 'no CONN_CLOSE for the server');
      const sent = assertContiguous(sink.dataOf(open.connId, Direction.Egress), 'server egress');
      assert.equal(sent, close.bytesSent);
      assert.ok(sent > 2 * LARGE_BODY_BYTES);
      const c = tracer.counters();
      assert.ok(c['recordsSpilled']! > 0, 'the test did not exercise the spill path');
      assert.equal(c['ringbufFull'], 0);
      assert.equal(c['oversizedDropped'], 0);
    } finally {
      tracer.close();
      tracer.close(); // idempotent
      server.kill();
      await exitOf(server);
    }
  });
});
