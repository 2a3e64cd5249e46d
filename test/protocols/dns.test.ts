// Real DNS traffic through a real agent: dnsmasq started here with static
// records, queried with dig over UDP and TCP and with Node's resolver
// (c-ares) from this process, captured with eBPF (UDP datagrams and TCP
// streams) and read back from dns_events with `wisp run`. Both sides are
// traced: dnsmasq (trace_role 2) and the clients (trace_role 1), except
// dnsmasq's side of TCP: it accepts and a forked child does the I/O, and the
// kernel side keys a connection by the process that accepted it (see the
// caveats in native/bpf/socket_trace.bpf.c).
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { after, before, describe, it } from 'mocha';
import { AgentProcess } from '../support/agent.ts';
import { DnsmasqProcess } from '../support/dnsmasq.ts';
import { join } from 'node:path';
import { requireCommand, ROOT, run, waitFor } from '../support/processes.ts';

type Row = Record<string, unknown>;

interface Query { name: string; type: string }

function rowsScript(port: number): string {
  return `import px
df = px.DataFrame(table='dns_events', start_time='-5m')
df = df[((df.trace_role == 2) & (df.local_port == ${port})) | ((df.trace_role == 1) & (df.remote_port == ${port}))]
px.display(df[['time_', 'req_header', 'req_body', 'resp_header', 'resp_body', 'latency', 'trace_role', 'local_port', 'remote_port']], 'rows')
`;
}

const query = (r: Row): Query => (JSON.parse(r.req_body as string) as { queries: Query[] }).queries[0]!;
const answers = (r: Row): Record<string, string>[] => (JSON.parse(r.resp_body as string) as { answers: Record<string, string>[] }).answers;
const rcode = (r: Row): number => (JSON.parse(r.resp_header as string) as { rcode: number }).rcode;

describe('DNS capture (root, eBPF, real dnsmasq)', function () {
  this.timeout(120_000);
  let dnsmasq: DnsmasqProcess;
  let agent: AgentProcess;

  before(async () => {
    dnsmasq = await DnsmasqProcess.start({
      local: 'wisp.test',
      hosts: { 'web.wisp.test': ['10.1.2.4', 'fd00::4'], 'node.wisp.test': ['10.1.2.9'], 'rw.wisp.test': ['10.1.2.5'], 'mmsg.wisp.test': ['10.1.2.6', 'fd00::6'] },
      cnames: { 'www.wisp.test': 'web.wisp.test' },
    });
    agent = await AgentProcess.start();
  });
  after(async () => {
    await agent?.stop();
    await dnsmasq?.stop();
  });

  it('pairs A, AAAA, CNAME and NXDOMAIN over UDP and TCP (dig) and from Node, on both sides', async () => {
    const dig = requireCommand('dig', 'dnsutils');
    const ask = async (name: string, type: string, ...flags: string[]): Promise<string> => {
      const r = await run(dig, ['@127.0.0.1', '-p', String(dnsmasq.port), '+time=2', '+tries=1', ...flags, name, type]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };
    assert.match(await ask('web.wisp.test', 'A'), /web\.wisp\.test\.\s+\d+\s+IN\s+A\s+10\.1\.2\.4/);
    assert.match(await ask('web.wisp.test', 'AAAA'), /AAAA\s+fd00::4/);
    assert.match(await ask('www.wisp.test', 'A'), /CNAME\s+web\.wisp\.test\./);
    assert.match(await ask('nope.wisp.test', 'A'), /status: NXDOMAIN/);
    assert.match(await ask('node.wisp.test', 'A', '+tcp'), /A\s+10\.1\.2\.9/);
    const resolver = new Resolver({ timeout: 2000, tries: 1 });
    resolver.setServers([`127.0.0.1:${dnsmasq.port}`]);
    assert.deepEqual(await resolver.resolve4('web.wisp.test'), ['10.1.2.4']);

    const client = ['web.wisp.test A', 'web.wisp.test AAAA', 'www.wisp.test A', 'nope.wisp.test A', 'node.wisp.test A', 'web.wisp.test A'];
    const server = client.filter((q) => q !== 'node.wisp.test A'); // the TCP query: a forked child answered it
    await waitFor('dns_events rows of both sides', async () => {
      const found = await agent.query(rowsScript(dnsmasq.port));
      return found.filter((r) => r.trace_role === 1).length >= client.length && found.filter((r) => r.trace_role === 2).length >= server.length ? found : undefined;
    }, 20_000);
    await new Promise((resolve) => setTimeout(resolve, 1500)); // nothing more may arrive

    for (const role of [1, 2]) {
      const side = (await agent.query(rowsScript(dnsmasq.port))).filter((r) => r.trace_role === role).sort((a, b) => String(a.time_).localeCompare(String(b.time_)));
      assert.deepEqual(side.map((r) => `${query(r).name} ${query(r).type}`), role === 1 ? client : server, `trace_role ${role}`);
      const byQuery = (name: string, type: string): Row[] => side.filter((r) => query(r).name === name && query(r).type === type);
      for (const a of byQuery('web.wisp.test', 'A')) assert.deepEqual(answers(a), [{ name: 'web.wisp.test', type: 'A', addr: '10.1.2.4' }]);
      assert.deepEqual(answers(byQuery('web.wisp.test', 'AAAA')[0]!), [{ name: 'web.wisp.test', type: 'AAAA', addr: 'fd00::4' }]);
      assert.deepEqual(answers(byQuery('www.wisp.test', 'A')[0]!), [{ name: 'www.wisp.test', type: 'CNAME', cname: 'web.wisp.test' }, { name: 'web.wisp.test', type: 'A', addr: '10.1.2.4' }]);
      const nx = byQuery('nope.wisp.test', 'A')[0]!;
      assert.equal(rcode(nx), 3);
      assert.deepEqual(answers(nx), []);
      if (role === 1) assert.deepEqual(answers(byQuery('node.wisp.test', 'A')[0]!), [{ name: 'node.wisp.test', type: 'A', addr: '10.1.2.9' }]);
      for (const r of side) {
        const reqHeader = JSON.parse(r.req_header as string) as Record<string, number>;
        const respHeader = JSON.parse(r.resp_header as string) as Record<string, number>;
        assert.equal(reqHeader.txid, respHeader.txid);
        assert.equal(reqHeader.qr, 0);
        assert.equal(respHeader.qr, 1);
        assert.equal(reqHeader.rd, 1);
        assert.ok((r.latency as number) > 0, `latency of ${r.req_body as string}`);
        assert.equal(role === 2 ? r.local_port : r.remote_port, dnsmasq.port);
      }
    }
    // The host's other DNS traffic is captured too: counters are at least ours (6 client + 5 server rows, 1 TCP session).
    const metrics = await agent.metrics();
    const counter = (name: string): number => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(metrics)?.[1] ?? -1);
    assert.ok(counter('wisp_tracker_records_total\\{reason="dns"\\}') >= 11, 'records_total{reason="dns"}');
    assert.ok(counter('wisp_tracker_protocol_total\\{reason="dns"\\}') >= 1, 'protocol_total{reason="dns"}');
  });

  it('captures read/write on a connected UDP socket and sendmmsg/recvmmsg batches (Python client)', async () => {
    const python = requireCommand('python3', 'python3');
    const client = await run(python, [join(ROOT, 'test', 'fixtures', 'dns-udp-client.py'), String(dnsmasq.port), 'rw.wisp.test', 'mmsg.wisp.test']);
    assert.equal(client.code, 0, client.stderr);
    assert.deepEqual(client.stdout.trim().split('\n').sort(), ['20737 0 1', '20738 0 1', '20739 0 1']);
    const wanted = (r: Row): boolean => ['rw.wisp.test', 'mmsg.wisp.test'].includes(query(r).name);
    const rows = await waitFor('dns_events rows of the Python client', async () => {
      const found = (await agent.query(rowsScript(dnsmasq.port))).filter(wanted);
      return found.length >= 6 ? found : undefined;
    }, 20_000);
    const summary = rows.map((r) => `${r.trace_role as number} ${JSON.parse(r.req_header as string).txid as number} ${query(r).name} ${query(r).type} ${answers(r).map((a) => a.addr).join()}`).sort();
    assert.deepEqual(summary, [
      '1 20737 rw.wisp.test A 10.1.2.5', '1 20738 mmsg.wisp.test A 10.1.2.6', '1 20739 mmsg.wisp.test AAAA fd00::6',
      '2 20737 rw.wisp.test A 10.1.2.5', '2 20738 mmsg.wisp.test A 10.1.2.6', '2 20739 mmsg.wisp.test AAAA fd00::6',
    ]);
    for (const r of rows) assert.ok((r.latency as number) > 0);
  });
});
