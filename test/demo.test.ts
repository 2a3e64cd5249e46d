// `wisp demo` end to end: the built CLI starts its agent (real eBPF) and its
// workload, which starts real PostgreSQL, MariaDB, Redis and DNS servers from
// the Debian packages; the test reads the live feed the demo prints and then
// checks, from /proc, that stopping the demo (or a crash of its workload)
// leaves no server process and no temp dir behind.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { afterEach, before, describe, it } from 'mocha';
import { mariadbBinaries, postgresBinDir } from '../src/cli/demo/servers.ts';
import { freePort, requireBuilt, requireCommand, requireRoot, waitFor, WISP } from './support/processes.ts';

interface Proc { pid: number; ppid: number; state: string; startTime: string; comm: string; cmdline: string[] }

/** Every process in /proc (threads aside), with what identifies it across pid reuse. */
function processes(): Proc[] {
  const all: Proc[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean);
      // Fields after comm start at stat's field 3 (state); starttime is field 22.
      all.push({ pid: Number(entry), ppid: Number(fields[1]), state: fields[0]!, startTime: fields[19]!, comm, cmdline });
    } catch {
      // exited while we looked
    }
  }
  return all;
}

function descendants(root: number): Proc[] {
  const all = processes();
  const found: Proc[] = [];
  const parents = new Set([root]);
  for (let grew = true; grew;) {
    grew = false;
    for (const p of all) {
      if (parents.has(p.ppid) && !parents.has(p.pid)) {
        parents.add(p.pid);
        found.push(p);
        grew = true;
      }
    }
  }
  return found;
}

/** Which of `procs` still run (same pid and start time, not a zombie). */
function stillRunning(procs: readonly Proc[]): Proc[] {
  const now = new Map(processes().map((p) => [p.pid, p]));
  return procs.filter((p) => { const q = now.get(p.pid); return q !== undefined && q.startTime === p.startTime && q.state !== 'Z'; });
}

const describeProcs = (procs: readonly Proc[]): string => procs.map((p) => `${p.pid} ${p.cmdline.join(' ') || p.comm}`).join('; ');

/** A `wisp demo` child with its stdout (the feed) and stderr kept. */
class Demo {
  stdout = '';
  stderr = '';
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;

  constructor(port: number) {
    this.child = spawn(WISP, ['demo', '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d: Buffer) => { this.stdout += d.toString(); });
    this.child.stderr!.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-8000); });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  /** Feed lines by protocol column ('http/1', 'https/1', 'pgsql', ...). */
  feed(): Map<string, string[]> {
    const byProto = new Map<string, string[]>();
    for (const line of this.stdout.split('\n')) {
      if (!/^\d{4}-\d\d-\d\d \d\d:/.test(line)) continue;
      const proto = line.slice(25).split(' ')[0]!;
      byProto.set(proto, [...(byProto.get(proto) ?? []), line]);
    }
    return byProto;
  }

  /** The workload process and the servers under it, once PostgreSQL and MariaDB both run. */
  async servers(): Promise<{ workload: Proc; all: Proc[]; dir: string }> {
    return waitFor('the demo\'s postgres and mariadbd', () => {
      if (this.child.exitCode !== null) throw new Error(`wisp demo exited ${this.child.exitCode}: ${this.stderr}`);
      const all = descendants(this.child.pid!);
      const workload = all.find((p) => p.cmdline.some((a) => /workload\.(js|ts)$/.test(a)));
      if (!workload || !all.some((p) => p.comm === 'postgres') || !all.some((p) => p.comm === 'mariadbd')) return undefined;
      return { workload, all, dir: workload.cmdline.at(-1)! };
    }, 90_000);
  }

  async stop(signal: NodeJS.Signals): Promise<number | null> {
    this.child.kill(signal);
    return this.exited;
  }
}

/** Asserts that no process of `procs` runs any more and no server process names the demo's dir. */
function assertNothingLeft(procs: readonly Proc[], dir: string): void {
  assert.deepEqual(describeProcs(stillRunning(procs)), '', 'processes of the demo left running');
  const strays = processes().filter((p) => p.state !== 'Z' && p.cmdline.some((a) => a.includes(dir)));
  assert.deepEqual(describeProcs(strays), '', `processes still using ${dir}`);
  assert.equal(existsSync(dir), false, `${dir} was not removed`);
}

describe('wisp demo (root, eBPF, real PostgreSQL, MariaDB, Redis, DNS and nginx TLS servers)', function () {
  this.timeout(180_000);
  let demo: Demo | undefined;

  before(() => {
    requireRoot('the demo\'s eBPF agent');
    requireBuilt();
    if (postgresBinDir() === undefined) throw new Error('postgres not found under /usr/lib/postgresql: install the Debian package postgresql (make deps does)');
    if (mariadbBinaries() === undefined) throw new Error('mariadbd not found: install the Debian package mariadb-server (make deps does)');
    requireCommand('redis-server', 'redis-server');
    requireCommand('dnsmasq', 'dnsmasq-base');
  });
  afterEach(async () => {
    if (demo && demo.child.exitCode === null && demo.child.signalCode === null) await demo.stop('SIGKILL');
    demo = undefined;
  });

  it('shows rows of every protocol table in its feed, and leaves no server or temp dir behind after Ctrl-C', async () => {
    demo = new Demo(await freePort());
    const d = demo;
    const wanted = ['http/1', 'https/1', 'pgsql', 'mysql', 'redis', 'dns'];
    const feed = await waitFor(`feed rows of ${wanted.join(', ')}`, () => {
      if (d.child.exitCode !== null) throw new Error(`wisp demo exited ${d.child.exitCode}: ${d.stderr}`);
      const byProto = d.feed();
      const pgsql = byProto.get('pgsql') ?? [];
      const mysql = byProto.get('mysql') ?? [];
      // Beyond "some rows": the varied stream shows up, simple and prepared statements and an error reply on each.
      const ready = wanted.every((p) => byProto.has(p))
        && pgsql.some((l) => / Query SELECT /.test(l)) && pgsql.some((l) => / Execute INSERT INTO demo_orders/.test(l)) && pgsql.some((l) => / ERROR: /.test(l))
        && mysql.some((l) => / Prepared statement id /.test(l)) && mysql.some((l) => / ERROR 1146 /.test(l));
      return ready ? byProto : undefined;
    }, 90_000).catch((error: Error) => { throw new Error(`${error.message}\nfeed:\n${d.stdout.slice(-4000)}\nstderr:\n${d.stderr}`); });
    for (const proto of ['https/1', 'pgsql', 'mysql']) {
      const roles = new Set(feed.get(proto)!.map((l) => l.slice(25).split(/ +/)[1]));
      assert.ok(roles.has('client') && roles.has('server'), `${proto} rows of both sides: ${[...roles].join(', ')}`);
    }
    assert.ok(feed.get('https/1')!.some((l) => / GET \/api\/account /.test(l)), 'HTTPS request paths from the plaintext');
    assert.doesNotMatch(d.stderr, /not found|no PostgreSQL traffic|no MariaDB traffic|no HTTPS traffic/, d.stderr);

    const { all, dir } = await d.servers();
    const tree = descendants(d.child.pid!); // the backends forked since, too
    assert.equal(await d.stop('SIGINT'), 0, d.stderr);
    assert.match(d.stdout, /wisp demo: stopped/);
    assertNothingLeft([...all, ...tree], dir);
  });

  it('stops the servers of a crashed workload, and removes its temp dir', async () => {
    demo = new Demo(await freePort());
    const d = demo;
    const { workload, all, dir } = await d.servers();
    process.kill(workload.pid, 'SIGKILL');
    await waitFor('the servers of the killed workload to be stopped', () => (stillRunning(all).length === 0 && !existsSync(dir) ? true : undefined), 30_000)
      .catch((error: Error) => { throw new Error(`${error.message}: ${describeProcs(stillRunning(all))}`); });
    assert.match(d.stderr, /the workload exited \(SIGKILL\); stopping its servers/);
    assert.equal(d.child.exitCode, null, 'the demo itself keeps running');
    assert.equal(await d.stop('SIGTERM'), 0, d.stderr);
    assertNothingLeft(all, dir);
  });

  it('has its workload stop the servers and remove the temp dir when the demo itself is killed', async () => {
    demo = new Demo(await freePort());
    const d = demo;
    const { all, dir } = await d.servers();
    const tree = descendants(d.child.pid!);
    await d.stop('SIGKILL');
    await waitFor('the workload to stop its servers after the demo died', () => (stillRunning([...all, ...tree]).length === 0 && !existsSync(dir) ? true : undefined), 30_000)
      .catch((error: Error) => { throw new Error(`${error.message}: ${describeProcs(stillRunning([...all, ...tree]))}`); });
    assertNothingLeft([...all, ...tree], dir);
  });
});
