import { spawn, type ChildProcess } from 'node:child_process';
import { freePort, requireCommand, run, stop, waitFor } from './processes.ts';

/**
 * A real dnsmasq (Debian dnsmasq-base) on a free loopback port, answering
 * only from static records on the command line: no upstream, no /etc/hosts.
 * `local` domains answer NXDOMAIN for names without a record.
 */
export class DnsmasqProcess {
  readonly port: number;
  private readonly child: ChildProcess;

  private constructor(port: number, child: ChildProcess) {
    this.port = port;
    this.child = child;
  }

  static async start(records: { local: string; hosts: Record<string, string[]>; cnames: Record<string, string> }): Promise<DnsmasqProcess> {
    const dnsmasq = requireCommand('dnsmasq', 'dnsmasq-base');
    const dig = requireCommand('dig', 'dnsutils');
    const port = await freePort();
    const args = ['--keep-in-foreground', '--conf-file=/dev/null', `--port=${port}`, '--listen-address=127.0.0.1', '--bind-interfaces',
      '--no-resolv', '--no-hosts', '--user=root', '--pid-file=', '--log-facility=-', `--local=/${records.local}/`,
      ...Object.entries(records.hosts).map(([name, addrs]) => `--host-record=${name},${addrs.join(',')}`),
      ...Object.entries(records.cnames).map(([alias, target]) => `--cname=${alias},${target}`)];
    const child = spawn(dnsmasq, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
    const probe = Object.keys(records.hosts)[0]!;
    await waitFor(`dnsmasq on port ${port}`, async () => {
      if (child.exitCode !== null) throw new Error(`dnsmasq exited ${child.exitCode}: ${stderr.trim()}`);
      const answer = await run(dig, ['@127.0.0.1', '-p', String(port), '+short', '+time=1', '+tries=1', probe]);
      return answer.code === 0 && answer.stdout.trim() !== '' ? true : undefined;
    });
    return new DnsmasqProcess(port, child);
  }

  async stop(): Promise<void> {
    await stop(this.child);
  }
}
