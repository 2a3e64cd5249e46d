import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { AgentClient } from './client.ts';
import { startStandaloneAgent } from './agent.command.ts';

const LIVE_SCRIPT = `import px
df = px.DataFrame(table='http_events', start_time='-10s')
df = df[['time_', 'req_method', 'req_path', 'resp_status', 'latency', 'trace_role']]
px.display(df)
`;

const ROLE = ['?', 'client', 'server'];

/**
 * wisp demo: a standalone agent plus a bundled HTTP workload, printing every
 * request the agent sees (both sides: the workload's client and its server)
 * until Ctrl-C.
 */
export async function demoCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { listen: { type: 'string', default: '127.0.0.1:7070' } } });
  // The live table is the demo's output; the agent logs only warnings.
  const agent = await startStandaloneAgent({ listen: values.listen, logger: pino({ name: 'wisp-agent', level: 'warn' }, pino.destination(2)) });
  const workloadPath = fileURLToPath(new URL(`./demo/workload${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));
  const workload = spawn(process.execPath, [workloadPath], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve) => workload.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())));
  process.stdout.write(`wisp demo: agent on http://${values.listen}, workload on 127.0.0.1:${port}; Ctrl-C stops\n`);
  process.stdout.write(`try: ./bin/wisp run -o json - <<< "import px; px.display(px.DataFrame('http_events')[['req_path','resp_status']].head(3))"\n`);
  process.stdout.write(`     (with redis-server and dnsmasq installed, the workload also fills redis_events and dns_events)\n\n`);
  process.stdout.write(`${'TIME'.padEnd(24)}  ${'ROLE'.padEnd(6)}  ${'METHOD'.padEnd(6)}  ${'PATH'.padEnd(26)}  STATUS  LATENCY\n`);

  const client = new AgentClient(`http://${values.listen}`);
  let lastSeen = '';
  const timer = setInterval(() => {
    client.query(LIVE_SCRIPT).then((outputs) => {
      for (const row of outputs[0]?.rows ?? []) {
        const [time, method, path, status, latencyNs, role] = row as [string, string, string, number, number, number];
        if (time <= lastSeen) continue;
        lastSeen = time;
        process.stdout.write(`${time.slice(0, 23).replace('T', ' ')}  ${(ROLE[role] ?? '?').padEnd(6)}  ${method.padEnd(6)}  ${path.padEnd(26)}  ${String(status).padEnd(6)}  ${(latencyNs / 1e6).toFixed(2)} ms\n`);
      }
    }, (error: Error) => process.stderr.write(`wisp demo: ${error.message}\n`));
  }, 1000);

  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  clearInterval(timer);
  workload.kill('SIGTERM');
  await agent.stop();
  process.stdout.write('\nwisp demo: stopped\n');
  return 0;
}
