// The real Kubernetes test bed (hack/testbed): etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler from Kubernetes' own Go modules, on loopback with RBAC on. `make test` brings it up
// before the integration tests and down after; tests call ensureTestbed() so a single test file also
// runs on its own (`mocha test/x.test.ts`). The first call on a cold machine builds the binary
// (10-25 min): give the calling hook a long timeout (this.timeout(0)) when that can happen.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, run, type RunResult } from './processes.ts';

export const TESTBED = join(ROOT, 'hack', 'testbed');
export const TESTBED_STATE = process.env.TESTBED_STATE ?? join(ROOT, '.cache', 'testbed');

export interface Testbed {
  /** Absolute path of the admin kubeconfig (group system:masters). */
  kubeconfig: string;
  /** The API server's URL, e.g. https://127.0.0.1:26443. */
  server: string;
}

export interface TestbedCredentials extends Testbed {
  /** PEM of the CA that signed the API server's serving certificate. */
  ca: string;
  /** A bearer token of the admin user. */
  token: string;
}

const BUILD_AND_UP_TIMEOUT_MS = 40 * 60_000;
let pending: Promise<Testbed> | undefined;

/** Brings the test bed up (idempotent, fast when already up) and returns where it is. */
export function ensureTestbed(): Promise<Testbed> {
  pending ??= up().catch((error: unknown) => { pending = undefined; throw error; });
  return pending;
}

async function up(): Promise<Testbed> {
  const result = await run(TESTBED, ['up'], { timeoutMs: BUILD_AND_UP_TIMEOUT_MS });
  if (result.code !== 0) throw new Error(`hack/testbed up failed (exit ${result.code}):\n${result.stderr.trim()}`);
  const kubeconfig = join(TESTBED_STATE, 'kubeconfig');
  const server = /^\s*server:\s*(\S+)\s*$/m.exec(readFileSync(kubeconfig, 'utf8'))?.[1];
  if (!server) throw new Error(`no server in ${kubeconfig}`);
  return { kubeconfig, server };
}

/** The test bed plus the admin's CA and token, for raw HTTPS requests. */
export async function testbedCredentials(): Promise<TestbedCredentials> {
  const testbed = await ensureTestbed();
  const ca = readFileSync(join(TESTBED_STATE, 'pki', 'ca.crt'), 'utf8');
  const token = readFileSync(join(TESTBED_STATE, 'pki', 'tokens.csv'), 'utf8').split(',')[0]!.trim();
  return { ...testbed, ca, token };
}

/** Runs the test bed's kubectl (same version as the server) with the admin kubeconfig. */
export async function kubectl(args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  await ensureTestbed();
  return run(TESTBED, ['kubectl', ...args], { timeoutMs: 120_000, ...options });
}

/** Like kubectl(), but throws with stderr unless it exits 0; returns stdout. */
export async function kubectlOk(args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  const result = await kubectl(args, options);
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (exit ${result.code}): ${result.stderr.trim()}`);
  return result.stdout;
}

/** Restarts one control plane component (e.g. to test recovery from an API server restart). */
export async function restartComponent(name: 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler'): Promise<void> {
  await ensureTestbed();
  const result = await run(TESTBED, ['restart', name], { timeoutMs: 180_000 });
  if (result.code !== 0) throw new Error(`hack/testbed restart ${name} failed: ${result.stderr.trim()}`);
}
