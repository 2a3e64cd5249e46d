// Attaches every socket-trace program in 'bare' mode (each returns at once)
// and waits: the floor of the tracepoint mechanism for the overhead benchmark.
import { SocketTracer } from '../src/agent/bpf/socket-tracer.ts';

const tracer = SocketTracer.open({ selfPid: process.pid, mode: 'bare' });
process.stdout.write('ready\n');
process.on('SIGTERM', () => { tracer.close(); process.exit(0); });
setInterval(() => tracer.drain({ onOpen() {}, onData() {}, onClose() {} }), 10);
