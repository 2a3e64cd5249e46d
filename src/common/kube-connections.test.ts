import assert from 'node:assert/strict';
import { KubeConfig } from '@kubernetes/client-node';
import { describe, it } from 'mocha';
import { sameValue, shareConnections } from './kube-connections.ts';

function kubeConfig(caData: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:6443', caData }],
    users: [{ name: 'u', token: 'secret' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

interface Context { getDispatcher(): unknown; setDispatcher(d: unknown): void; setHeaderParam(k: string, v: string): void }

async function dispatcherOf(kc: KubeConfig): Promise<unknown> {
  let dispatcher: unknown;
  const context: Context = { getDispatcher: () => dispatcher, setDispatcher: (d) => { dispatcher = d; }, setHeaderParam: () => {} };
  await kc.applySecurityAuthentication(context as never);
  return dispatcher;
}

describe('shareConnections', () => {
  it('gives every request of a KubeConfig the same dispatcher (keep-alive pool)', async () => {
    const kc = kubeConfig(Buffer.from('ca-one').toString('base64'));
    const unshared = [await dispatcherOf(kc), await dispatcherOf(kc)];
    assert.ok(unshared[0]);
    assert.notEqual(unshared[0], unshared[1]);
    shareConnections(kc);
    shareConnections(kc);
    const a = await dispatcherOf(kc);
    assert.ok(a);
    assert.equal(await dispatcherOf(kc), a);
  });

  it('makes a new dispatcher when the TLS configuration changes', async () => {
    const kc = shareConnections(kubeConfig(Buffer.from('ca-one').toString('base64')));
    const a = await dispatcherOf(kc);
    (kc.getCurrentCluster() as { caData?: string }).caData = Buffer.from('ca-two').toString('base64');
    const b = await dispatcherOf(kc);
    assert.notEqual(a, b);
    assert.equal(await dispatcherOf(kc), b);
  });

  it('compares option objects structurally', () => {
    assert.ok(sameValue({ ca: Buffer.from('x'), n: 1, u: undefined }, { ca: Buffer.from('x'), n: 1 }));
    assert.ok(!sameValue({ ca: Buffer.from('x') }, { ca: Buffer.from('y') }));
    assert.ok(!sameValue({ a: [1, 2] }, { a: [1] }));
  });
});
