import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { AgentClient } from './client.ts';
import { startStandaloneAgent } from './agent.command.ts';

/**
 * One output per protocol table, each reduced to the same shape (time,
 * role, request, result, latency) by a column list: what the live feed
 * prints, merged in time order.
 */
const FEEDS = [
  { table: 'http_events', proto: (row: readonly unknown[]): string => `http/${String(row[row.length - 1])}`, request: ['req_method', 'req_path'], result: 'resp_status', extra: 'major_version' },
  { table: 'pgsql_events', proto: (): string => 'pgsql', request: ['req_cmd', 'req'], result: 'resp' },
  { table: 'mysql_events', proto: (): string => 'mysql', request: ['req_body'], result: 'resp_body' },
  { table: 'redis_events', proto: (): string => 'redis', request: ['req_cmd', 'req_args'], result: 'resp' },
  { table: 'dns_events', proto: (): string => 'dns', request: ['req_body'], result: 'resp_header' },
] as const;

const LIVE_SCRIPT = ['import px', ...FEEDS.map((f) => {
  const columns = ['time_', 'trace_role', 'latency', f.result, ...f.request, ...('extra' in f ? [f.extra] : [])];
  return `px.display(px.DataFrame(table='${f.table}', start_time='-10s')[${JSON.stringify(columns)}], '${f.table}')`;
})].join('\n');

function cut(text: string, width: number): string {
  const flat = text.replace(/\s+/g, ' ');
  return flat.length > width ? `${flat.slice(0, width - 1)}…` : flat.padEnd(width);
}

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
  process.stdout.write(`     (with redis-server and dnsmasq installed, the workload also fills redis_events and dns_events; the feed shows every protocol table)\n\n`);
  process.stdout.write(`${'TIME'.padEnd(23)}  ${'PROTO'.padEnd(6)}  ${'ROLE'.padEnd(6)}  ${'REQUEST'.padEnd(40)}  ${'RESULT'.padEnd(24)}  LATENCY\n`);

  const client = new AgentClient(`http://${values.listen}`);
  let lastSeen = '';
  const timer = setInterval(() => {
    client.query(LIVE_SCRIPT).then((outputs) => {
      const lines: [string, string][] = [];
      FEEDS.forEach((feed, k) => {
        for (const row of outputs[k]?.rows ?? []) {
          const [time, role, latencyNs, result, ...rest] = row as [string, number, number, unknown, ...unknown[]];
          if (time <= lastSeen) continue;
          const request = rest.slice(0, feed.request.length).join(' ');
          lines.push([time, `${time.slice(0, 23).replace('T', ' ')}  ${feed.proto(row).padEnd(6)}  ${(ROLE[role] ?? '?').padEnd(6)}  ${cut(request, 40)}  ${cut(String(result), 24)}  ${(latencyNs / 1e6).toFixed(2)} ms\n`]);
        }
      });
      lines.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      for (const [time, line] of lines) {
        lastSeen = time > lastSeen ? time : lastSeen;
        process.stdout.write(line);
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
