// Two candidates for one Lease on the real API server: exactly one leads; when
// it is killed (no release), the other takes over within the lease duration;
// a graceful stop releases the Lease so the successor takes over at once.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'mocha';
import { ROOT, sleep, waitFor } from '../support/processes.ts';
import { ensureTestbed, kubectl, kubectlOk } from '../support/testbed.ts';

const NS = 'wisp-le-test';
const LEASE_MS = 3000;

interface Candidate { identity: string; child: ChildProcess; output: string[] }

function candidate(kubeconfig: string, lease: string, identity: string): Candidate {
  const child = spawn(process.execPath, [join(ROOT, 'test/operator/support/elector.child.ts'), kubeconfig, NS, lease, identity, String(LEASE_MS)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const output: string[] = [];
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => output.push(...chunk.split('\n').filter(Boolean)));
  return { identity, child, output };
}

async function holder(lease: string): Promise<string> {
  return (await kubectlOk(['get', 'lease', '-n', NS, lease, '-o', 'jsonpath={.spec.holderIdentity}'])).trim();
}

describe('leader election (test bed)', function () {
  this.timeout(60_000);
  let kubeconfig: string;
  const children: ChildProcess[] = [];

  before(async function () {
    this.timeout(0);
    ({ kubeconfig } = await ensureTestbed());
    await kubectl(['create', 'namespace', NS]);
  });

  after(() => { for (const c of children) c.kill('SIGKILL'); });

  for (const [how, signal, withinMs] of [['killed', 'SIGKILL', LEASE_MS + 3000], ['stopped gracefully', 'SIGTERM', 2500]] as const) {
    it(`lets exactly one lead, and the other take over when the leader is ${how}`, async () => {
      const lease = `le-${signal.toLowerCase()}`;
      await kubectl(['delete', 'lease', '-n', NS, lease, '--ignore-not-found']);
      const a = candidate(kubeconfig, lease, 'a');
      const b = candidate(kubeconfig, lease, 'b');
      children.push(a.child, b.child);
      const first = await waitFor('a leader', () => [a, b].find((c) => c.output.includes('leading')), 15_000);
      const second = first === a ? b : a;
      await sleep(LEASE_MS); // several renew rounds: the other must stay a follower
      assert.deepEqual(second.output, []);
      assert.equal(await holder(lease), first.identity);
      const killedAt = Date.now();
      first.child.kill(signal);
      await waitFor('the successor', () => second.output.includes('leading') || undefined, 20_000);
      const tookMs = Date.now() - killedAt;
      assert.ok(tookMs <= withinMs, `took over in ${tookMs} ms, want ≤ ${withinMs}`);
      assert.equal(await holder(lease), second.identity);
      second.child.kill('SIGKILL');
    });
  }
});
