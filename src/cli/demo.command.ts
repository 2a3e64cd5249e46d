import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  // http/1, http/2, and https/… for TLS plaintext (encrypted).
  { table: 'http_events', proto: (row: readonly unknown[]): string => `${row[row.length - 2] === true ? 'https' : 'http'}/${String(row[row.length - 1])}`,
    request: ['req_method', 'req_path'], result: 'resp_status', extra: ['encrypted', 'major_version'] },
  { table: 'pgsql_events', proto: (): string => 'pgsql', request: ['req_cmd', 'req'], result: 'resp' },
  { table: 'mysql_events', proto: (): string => 'mysql', request: ['req_body'], result: 'resp_body' },
  { table: 'redis_events', proto: (): string => 'redis', request: ['req_cmd', 'req_args'], result: 'resp' },
  { table: 'dns_events', proto: (): string => 'dns', request: ['req_body'], result: 'resp_header' },
] as const;

const LIVE_SCRIPT = ['import px', ...FEEDS.map((f) => {
  const columns = ['time_', 'trace_role', 'latency', f.result, ...f.request, ...('extra' in f ? f.extra : [])];
  return `px.display(px.DataFrame(table='${f.table}', start_time='-10s')[${JSON.stringify(columns)}], '${f.table}')`;
})].join('\n');

function cut(text: string, width: number): string {
  const flat = text.replace(/\s+/g, ' ');
  return flat.length > width ? `${flat.slice(0, width - 1)}…` : flat.padEnd(width);
}

const ROLE = ['?', 'client', 'server'];

/** How long the workload's servers get to shut down (PostgreSQL's and MariaDB's checkpoints) before SIGKILL. */
const STOP_GRACE_MS = 10_000;

/**
 * Live processes of process group `pgid`, from /proc. Zombies do not count:
 * servers orphaned by a crashed workload are reaped by init, which in a
 * container may never do it, and a zombie holds no port, file or memory.
 */
function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so split after the last ')'.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z') members.push(Number(entry));
  }
  return members;
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // the group is gone already
  }
}

/**
 * Stops the workload's process group (the workload and every server it
 * started, also when the workload itself already crashed): SIGTERM, then
 * SIGKILL for whatever is left after STOP_GRACE_MS.
 */
async function stopGroup(pgid: number): Promise<void> {
  signalGroup(pgid, 'SIGTERM');
  const deadline = Date.now() + STOP_GRACE_MS;
  while (groupMembers(pgid).length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  if (groupMembers(pgid).length === 0) return;
  signalGroup(pgid, 'SIGKILL');
  while (groupMembers(pgid).length > 0 && Date.now() < deadline + STOP_GRACE_MS) await new Promise((resolve) => setTimeout(resolve, 100));
}

/**
 * wisp demo: a standalone agent plus a bundled workload (HTTP, and PostgreSQL,
 * MariaDB, Redis and DNS servers when installed), printing every request the
 * agent sees (both sides: the workload's clients and its servers) until
 * Ctrl-C. Everything the workload starts lives in one process group and one
 * temp dir, both removed on stop.
 */
export async function demoCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { listen: { type: 'string', default: '127.0.0.1:7070' } } });
  // Listening from the start: a Ctrl-C while the agent or the servers start up still stops everything in order.
  const stopRequested = new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  // The live table is the demo's output; the agent logs only warnings.
  const agent = await startStandaloneAgent({ listen: values.listen, logger: pino({ name: 'wisp-agent', level: 'warn' }, pino.destination(2)) });
  const workloadPath = fileURLToPath(new URL(`./demo/workload${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'wisp-demo-'));
  // PostgreSQL runs as the postgres user (it refuses root) and must reach its data dir inside.
  chmodSync(dir, 0o711);
  // Its own process group (detached), which the servers it spawns inherit: stopGroup reaches them even after the
  // workload crashed, and a Ctrl-C on the terminal reaches only this process, which stops them in order.
  // stdin is a pipe only so that the workload notices when this process dies without stopping it.
  const workload = spawn(process.execPath, [workloadPath, dir], { stdio: ['pipe', 'pipe', 'inherit'], detached: true });
  const pgid = workload.pid!;
  let stopping = false;
  const cleanUp = async (): Promise<void> => {
    await stopGroup(pgid);
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  };
  let cleanedUp: Promise<void> | undefined;
  workload.once('exit', (code, signal) => {
    if (stopping) return;
    process.stderr.write(`wisp demo: the workload exited (${signal ?? code}); stopping its servers\n`);
    cleanedUp = cleanUp();
  });
  const port = await new Promise<string>((resolve) => {
    workload.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()));
    workload.once('exit', () => resolve('(none: the workload exited)'));
  });
  process.stdout.write(`wisp demo: agent on http://${values.listen}, workload on 127.0.0.1:${port}; Ctrl-C stops\n`);
  process.stdout.write(`try: ./bin/wisp run -o json - <<< "import px; px.display(px.DataFrame('http_events')[['req_path','resp_status']].head(3))"\n`);
  process.stdout.write(`     (with postgresql, mariadb-server, redis-server and dnsmasq installed, the workload also fills pgsql_events,\n`);
  process.stdout.write(`     mysql_events, redis_events and dns_events, the databases a few seconds after start; with nginx, openssl\n`);
  process.stdout.write(`     and curl, HTTPS rows (https/1.1, encrypted) from TLS plaintext; the feed shows every protocol table)\n\n`);
  process.stdout.write(`${'TIME'.padEnd(23)}  ${'PROTO'.padEnd(8)}  ${'ROLE'.padEnd(6)}  ${'REQUEST'.padEnd(40)}  ${'RESULT'.padEnd(24)}  LATENCY\n`);

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
          lines.push([time, `${time.slice(0, 23).replace('T', ' ')}  ${feed.proto(row).padEnd(8)}  ${(ROLE[role] ?? '?').padEnd(6)}  ${cut(request, 40)}  ${cut(String(result), 24)}  ${(latencyNs / 1e6).toFixed(2)} ms\n`]);
        }
      });
      lines.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      for (const [time, line] of lines) {
        lastSeen = time > lastSeen ? time : lastSeen;
        process.stdout.write(line);
      }
    }, (error: Error) => process.stderr.write(`wisp demo: ${error.message}\n`));
  }, 1000);

  await stopRequested;
  clearInterval(timer);
  stopping = true;
  await (cleanedUp ?? cleanUp());
  await agent.stop();
  process.stdout.write('\nwisp demo: stopped\n');
  return 0;
}
