// The statistics tables with a real agent (in this process: root, eBPF) and
// real processes: a raw TCP echo (socat, a protocol nothing traces) for
// conn_stats and net_flow_graph.pxl, exiting and killed children for
// proc_exit_events, a busy child for process_stats, and a network namespace
// joined by a veth pair for network_stats.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'mocha';
import { pino } from 'pino';
import { Agent } from '../src/agent/agent.ts';
import { parseUpid } from '../src/agent/upid.ts';
import { freePort, requireCommand, requireRoot, ROOT, run, stop, waitFor } from './support/processes.ts';

type Row = Record<string, unknown>;

/** Network namespace, veth pair and addresses of this run (unique per test process). */
const NETNS = `wisp-s-${process.pid}`;
const HOST_VETH = `wst${process.pid % 100_000}`; // not 'v…': virtual interfaces are not counted
const SUBNET = `10.213.${process.pid % 250}`;
const HOST_IP = `${SUBNET}.1`;
const POD_IP = `${SUBNET}.2`;

function netnsOf(pid: number): string {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return '';
  }
}

describe('statistics tables (root, eBPF, real processes)', function () {
  this.timeout(120_000);
  let agent: Agent;
  let server: string;
  const hostNetns = netnsOf(process.pid);
  let podNetns = '';

  async function query(script: string): Promise<Row[]> {
    const response = await fetch(`${server}/api/v1/query`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ script }),
    });
    const body = await response.json() as { outputs?: { columns: { name: string }[]; rows: unknown[][] }[]; error?: string };
    if (!response.ok || !body.outputs) throw new Error(`query failed (${response.status}): ${body.error}`);
    return body.outputs.flatMap((o) => o.rows.map((r) => Object.fromEntries(o.columns.map((c, i) => [c.name, r[i]]))));
  }

  const table = (name: string): Promise<Row[]> =>
    query(`import px\npx.display(px.DataFrame(table='${name}', start_time='-5m'), 'rows')\n`);
  const pidOf = (row: Row): number => parseUpid(row['upid'] as string)?.pid ?? -1;

  before(async () => {
    requireRoot('the eBPF agent');
    requireCommand('socat', 'socat');
    requireCommand('ip', 'iproute2');
    server = `http://127.0.0.1:${await freePort()}`;
    agent = new Agent({
      listen: server.slice('http://'.length),
      logger: pino({ level: 'silent' }),
      stats: {
        connStatsIntervalMs: 300,
        processStatsIntervalMs: 1000,
        networkStatsIntervalMs: 1000,
        // The pod resolver seam: this run's namespace plays a pod, the host is named too.
        podIdOf: (pid) => {
          const ns = netnsOf(pid);
          return ns === podNetns && ns !== '' ? 'test-pod' : ns === hostNetns ? 'host' : '';
        },
      },
    });
    await agent.start();
  });
  after(async () => {
    await agent?.stop();
  });

  describe('conn_stats of a raw TCP echo (no traced protocol)', () => {
    let socat: ChildProcess;
    let port: number;
    let clientPid: number;
    const chunks = [1000, 20_000, 7];
    const total = chunks.reduce((a, b) => a + b, 0);

    before(async () => {
      port = await freePort();
      socat = spawn(requireCommand('socat', 'socat'), ['-T', '20', `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr`, 'PIPE'], { stdio: 'ignore' });
      const hexPort = `:${port.toString(16).toUpperCase().padStart(4, '0')} `;
      await waitFor(`socat listening on ${port}`, () =>
        readFileSync('/proc/net/tcp', 'utf8').split('\n').some((l) => l.includes(`0100007F${hexPort}`) && l.includes(' 0A ')) || undefined);
      const client = spawn(process.execPath, [join(ROOT, 'test', 'fixtures', 'tcp-client.mjs'), String(port), '1500', ...chunks.map(String)], { stdio: ['ignore', 'ignore', 'pipe'] });
      clientPid = client.pid!;
      const code = await new Promise<number | null>((resolve) => client.on('exit', resolve));
      assert.equal(code, 0, 'the client got its echo back');
    });
    after(async () => { await stop(socat); });

    it('reports the exact bytes of both sides, while open (kernel table scan) and at close', async () => {
      const rows = await waitFor('the closing conn_stats rows of both sides', async () => {
        const all = (await table('conn_stats')).filter((r) => (r['trace_role'] === 1 && r['remote_port'] === port) || (r['trace_role'] === 2 && pidOf(r) === socat.pid));
        return all.filter((r) => r['conn_close'] === 1).length === 2 ? all : undefined;
      });
      const client = rows.filter((r) => r['trace_role'] === 1);
      const serverSide = rows.filter((r) => r['trace_role'] === 2);
      assert.ok(client.every((r) => pidOf(r) === clientPid), 'client rows carry the client upid');
      for (const side of [client, serverSide]) {
        assert.deepEqual(side[0] && [side[0]['conn_open'], side[0]['bytes_sent'], side[0]['bytes_recv']], [1, 0, 0], 'a zero row at the open');
        const open = side.find((r) => r['conn_active'] === 1 && r['bytes_sent'] === total);
        assert.ok(open, `a row while the connection was open with all bytes: ${JSON.stringify(side)}`);
        const last = side.find((r) => r['conn_close'] === 1)!;
        assert.deepEqual(
          [last['conn_open'], last['conn_active'], last['bytes_sent'], last['bytes_recv'], last['protocol'], last['ssl'], last['addr_family'], last['remote_addr']],
          [1, 0, total, total, 0, false, 1, '127.0.0.1'],
        );
      }
    });

    it('net_flow_graph.pxl reports what the client sent and received', async () => {
      const script = readFileSync(join(ROOT, 'src', 'query', 'scripts', 'net_flow_graph.pxl'), 'utf8');
      const flows = await query(script);
      const mine = flows.filter((r) => String(r['from_entity']).includes(`tcp-client.mjs ${port} `));
      assert.deepEqual(mine, [{ from_entity: mine[0]?.['from_entity'], to_entity: '127.0.0.1', bytes_sent: total, bytes_recv: total, bytes_total: 2 * total }]);
    });
  });

  describe('proc_exit_events', () => {
    it('records an exit code and a killing signal with the command name', async () => {
      const exiter = spawn('sh', ['-c', 'exit 3']);
      const exited = await new Promise<number | null>((resolve) => exiter.on('exit', resolve));
      assert.equal(exited, 3);
      const sleeper = spawn('sleep', ['60']);
      await new Promise((resolve) => setTimeout(resolve, 100));
      sleeper.kill('SIGKILL');
      await new Promise((resolve) => sleeper.on('exit', resolve));

      const rows = await waitFor('both exits', async () => {
        const found = (await table('proc_exit_events')).filter((r) => pidOf(r) === exiter.pid || pidOf(r) === sleeper.pid);
        return found.length === 2 ? found : undefined;
      });
      const of = (pid: number | undefined): unknown[] => {
        const row = rows.find((r) => pidOf(r) === pid)!;
        return [row['exit_code'], row['signal'], row['comm']];
      };
      assert.deepEqual(of(exiter.pid), [3, 0, 'sh']);
      assert.deepEqual(of(sleeper.pid), [0, 9, 'sleep']);
    });
  });

  describe('process_stats', () => {
    let busy: ChildProcess;
    after(async () => { await stop(busy); });

    it('samples a busy child: CPU time, resident memory and threads', async () => {
      busy = spawn(process.execPath, ['-e', 'const end = Date.now() + 700; while (Date.now() < end); setInterval(() => {}, 1000);']);
      let seen: Row[] = [];
      const row = await waitFor('a process_stats row with CPU time for the busy child', async () => {
        seen = (await table('process_stats')).filter((r) => pidOf(r) === busy.pid);
        return seen.find((r) => (r['cpu_utime_ns'] as number) + (r['cpu_ktime_ns'] as number) >= 100_000_000);
      }).catch((error: Error) => { throw new Error(`${error.message}; rows of the child: ${JSON.stringify(seen)}`); });
      assert.ok((row['rss_bytes'] as number) > 10 * 1024 * 1024, `rss ${row['rss_bytes']}`);
      assert.ok((row['vsize_bytes'] as number) >= (row['rss_bytes'] as number));
      assert.ok((row['num_threads'] as number) >= 2, 'node runs helper threads');
      assert.ok((row['minor_faults'] as number) > 0);
      assert.ok((row['rchar_bytes'] as number) > 0, 'node read its own files');
    });
  });

  describe('network_stats', () => {
    let inPod: ChildProcess;
    before(async () => {
      const ip = requireCommand('ip', 'iproute2');
      for (const args of [
        ['netns', 'add', NETNS],
        ['link', 'add', HOST_VETH, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NETNS],
        ['addr', 'add', `${HOST_IP}/30`, 'dev', HOST_VETH],
        ['link', 'set', HOST_VETH, 'up'],
        ['netns', 'exec', NETNS, 'ip', 'addr', 'add', `${POD_IP}/30`, 'dev', 'eth0'],
        ['netns', 'exec', NETNS, 'ip', 'link', 'set', 'eth0', 'up'],
      ]) {
        const result = await run(ip, args);
        assert.equal(result.code, 0, `ip ${args.join(' ')}: ${result.stderr}`);
      }
      inPod = spawn(ip, ['netns', 'exec', NETNS, 'sleep', '120'], { stdio: 'ignore' });
      await waitFor('a process in the pod namespace', () => {
        const ns = netnsOf(inPod.pid!);
        return ns !== '' && ns !== hostNetns ? ns : undefined;
      }).then((ns) => { podNetns = ns; });
    });
    after(async () => {
      await stop(inPod);
      await run('ip', ['netns', 'del', NETNS]);
    });

    it('has one row per namespace, the pod named by the resolver, counters growing with traffic', async () => {
      const latest = async (pod: string, after = ''): Promise<Row | undefined> =>
        (await table('network_stats')).filter((r) => r['pod_id'] === pod && String(r['time_']) > after).at(-1);
      const before = await waitFor('a host and a pod row', async () => {
        const host = await latest('host');
        return host && await latest('test-pod') ? host : undefined;
      });
      const packets = 50;
      const send = await run('ip', ['netns', 'exec', NETNS, process.execPath, '-e', `
        const socket = require('node:dgram').createSocket('udp4');
        let left = ${packets};
        const next = () => left-- > 0 ? socket.send(Buffer.alloc(1000, 1), 9, '${HOST_IP}', next) : socket.close();
        next();`]);
      assert.equal(send.code, 0, send.stderr);
      const sentAt = new Date().toISOString();
      const host = await waitFor('a host row after the traffic', () => latest('host', sentAt));
      const pod = (await latest('test-pod', sentAt))!;
      assert.ok((host['rx_bytes'] as number) - (before['rx_bytes'] as number) >= packets * 1000, `host rx ${before['rx_bytes']} → ${host['rx_bytes']}`);
      assert.ok((host['rx_packets'] as number) - (before['rx_packets'] as number) >= packets);
      assert.ok((pod['tx_bytes'] as number) >= packets * 1000, `pod tx ${pod['tx_bytes']}`);
      assert.ok((pod['tx_packets'] as number) >= packets);
      const rowsPerSample = (await table('network_stats')).filter((r) => r['time_'] === host['time_']);
      assert.equal(new Set(rowsPerSample.map((r) => r['pod_id'])).size, rowsPerSample.filter((r) => r['pod_id'] !== '').length + (rowsPerSample.some((r) => r['pod_id'] === '') ? 1 : 0));
    });
  });
});
