// A leader-election candidate as its own process, so a test can SIGKILL it
// (no release) like a crashed operator replica. Prints "leading" / "stopped".
// argv: KUBECONFIG NAMESPACE LEASE IDENTITY LEASE_MS
import { CoordinationV1Api, KubeConfig } from '@kubernetes/client-node';
import { LeaderElector } from '../../../src/operator/runtime/leader-election.ts';

const [kubeconfig, namespace, name, identity, leaseMs] = process.argv.slice(2);
const kc = new KubeConfig();
kc.loadFromFile(kubeconfig!);
const elector = new LeaderElector({
  api: kc.makeApiClient(CoordinationV1Api),
  namespace: namespace!,
  name: name!,
  identity: identity!,
  leaseDurationMs: Number(leaseMs),
  onStartedLeading: () => { process.stdout.write('leading\n'); },
  onStoppedLeading: () => { process.stdout.write('stopped\n'); },
  onError: (error) => { process.stderr.write(`${String(error)}\n`); },
});
elector.start();
process.once('SIGTERM', () => { void elector.stop().then(() => process.exit(0)); });
