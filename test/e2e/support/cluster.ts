// Helpers for the end-to-end tests: `wisp` processes with their logs, kubeconfigs
// for a ServiceAccount (so a process runs with exactly the RBAC it is given),
// and typed reads of the objects the tests look at.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireBuilt, stop, tempDir, WISP } from '../../support/processes.ts';
import { kubectl, kubectlOk, testbedCredentials } from '../../support/testbed.ts';

export interface Condition { type: string; status: string; reason: string; message: string; observedGeneration?: number }

export interface CustomObject {
  metadata: { name: string; namespace?: string; generation: number; annotations?: Record<string, string>; finalizers?: string[] };
  spec: Record<string, unknown>;
  status?: { conditions?: Condition[]; planVersion?: string; nodesDesired?: number; nodesReady?: number };
}

/** `kubectl get ARGS -o json`, or undefined when it does not exist. */
export async function getJson<T = Record<string, unknown>>(args: readonly string[]): Promise<T | undefined> {
  const result = await kubectl(['get', ...args, '-o', 'json']);
  if (result.code === 0) return JSON.parse(result.stdout) as T;
  if (/NotFound/.test(result.stderr)) return undefined;
  throw new Error(`kubectl get ${args.join(' ')}: ${result.stderr.trim()}`);
}

export async function condition(args: readonly string[], type: string): Promise<Condition | undefined> {
  return (await getJson<CustomObject>(args))?.status?.conditions?.find((c) => c.type === type);
}

/** The object once its Ready condition is True for its current generation. */
export async function readyObject(args: readonly string[]): Promise<CustomObject | undefined> {
  const object = await getJson<CustomObject>(args);
  const ready = object?.status?.conditions?.find((c) => c.type === 'Ready');
  return ready?.status === 'True' && ready.observedGeneration === object!.metadata.generation ? object : undefined;
}

/**
 * A kubeconfig that authenticates as a ServiceAccount (a token from the
 * TokenRequest API), against the test bed's server and CA.
 */
export async function serviceAccountKubeconfig(namespace: string, serviceAccount: string): Promise<string> {
  const { server, ca } = await testbedCredentials();
  const token = (await kubectlOk(['-n', namespace, 'create', 'token', serviceAccount, '--duration', '2h'])).trim();
  const path = join(tempDir(`kubeconfig-${serviceAccount}`), 'kubeconfig');
  writeFileSync(path, JSON.stringify({
    apiVersion: 'v1', kind: 'Config',
    clusters: [{ name: 'testbed', cluster: { server, 'certificate-authority-data': Buffer.from(ca).toString('base64') } }],
    users: [{ name: serviceAccount, user: { token } }],
    contexts: [{ name: serviceAccount, context: { cluster: 'testbed', user: serviceAccount, namespace } }],
    'current-context': serviceAccount,
  }), { mode: 0o600 });
  return path;
}

/** A `wisp` child process that keeps its whole stderr (the JSON log) for assertions. */
export class WispProcess {
  log = '';
  private readonly child: ChildProcess;

  constructor(args: readonly string[]) {
    requireBuilt();
    this.child = spawn(WISP, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { this.log += chunk; });
  }

  get pid(): number { return this.child.pid!; }

  /** Throws (with the log) when the process has exited; for use inside waitFor checks. */
  assertRunning(): void {
    if (this.child.exitCode !== null || this.child.signalCode !== null) {
      throw new Error(`wisp exited (${this.child.exitCode ?? this.child.signalCode}): ${this.log.slice(-4000)}`);
    }
  }

  /** Log lines that mention a refused request (HTTP 403 / "forbidden"). */
  forbiddenLines(): string[] {
    return this.log.split('\n').filter((line) => /forbidden|"(?:code|statusCode)":\s*403\b/i.test(line));
  }

  stop(): Promise<void> { return stop(this.child); }
}

export interface AgentLease { planVersion: string; health: { ready?: boolean; reason?: string; message?: string }; renewTime: string }

/** What the agent of `node` reports on its Lease wisp-agent-<node> in `namespace`. */
export async function agentLease(namespace: string, node: string): Promise<AgentLease | undefined> {
  const lease = await getJson<{ metadata: { annotations?: Record<string, string> }; spec: { renewTime?: string } }>(['lease', '-n', namespace, `wisp-agent-${node}`]);
  if (!lease) return undefined;
  const annotations = lease.metadata.annotations ?? {};
  return {
    planVersion: annotations['wisp.dev/plan-version'] ?? '',
    health: JSON.parse(annotations['wisp.dev/health'] ?? '{}') as AgentLease['health'],
    renewTime: lease.spec.renewTime ?? '',
  };
}

/** The table budgets an agent applies, from its query API. */
export async function agentTables(server: string): Promise<Array<{ name: string; maxBytes: number }>> {
  const response = await fetch(`${server}/api/v1/tables`);
  if (!response.ok) throw new Error(`GET ${server}/api/v1/tables: ${response.status}`);
  return ((await response.json()) as { tables: Array<{ name: string; maxBytes: number }> }).tables;
}
