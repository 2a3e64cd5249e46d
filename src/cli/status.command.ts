import { CustomObjectsApi } from '@kubernetes/client-node';
import { parseArgs } from 'node:util';
import { AgentClient, CliError, DEFAULT_SERVER } from './client.ts';
import { formatBytes, formatOutputs } from './format.ts';
import { loadKubeConfig } from './kubeconfig.ts';

export const STATUS_USAGE = `Usage: wisp status [--server URL]
       wisp status --kubeconfig PATH [--context NAME]

One host: the agent's health, tables and every drop counter that is not zero.
A cluster: each Collector with its Ready condition and nodes ready/desired.`;

interface CollectorView {
  metadata?: { name?: string };
  status?: { nodesReady?: number; nodesDesired?: number; planVersion?: string; conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

export async function statusCommand(args: string[], env: { server?: string }): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      server: { type: 'string' },
      kubeconfig: { type: 'string' },
      context: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) { process.stdout.write(`${STATUS_USAGE}\n`); return 0; }
  if (values.kubeconfig !== undefined || values.context !== undefined) return clusterStatus(values);
  const server = values.server ?? env.server ?? DEFAULT_SERVER;
  const client = new AgentClient(server);
  const tables = await client.tables();
  const metrics = await fetch(`${server.replace(/\/+$/, '')}/metrics`).then((r) => r.text()).catch((error: Error) => {
    throw new CliError(`read ${server}/metrics: ${error.message}`);
  });
  process.stdout.write(`agent ${server}: serving\n\n`);
  process.stdout.write(formatOutputs([{
    name: 'tables',
    columns: ['table', 'rows', 'bytes', 'added', 'expired', 'dropped'].map((name) => ({ name, type: 'string' })),
    rows: tables.map((t) => [t.name, t.rows, formatBytes(t.bytes), t.rowsAdded, t.rowsExpired, t.rowsDropped]),
  }], 'table'));
  const drops = metrics.split('\n').filter((line) => /^wisp_\w*(dropped|Full|error|evicted|gap|unknown|stale|throttled)\w*(\{[^}]*\})? [1-9]/i.test(line));
  process.stdout.write(drops.length ? `\nnon-zero drop and error counters:\n${drops.map((d) => `  ${d}`).join('\n')}\n` : '\nno drops\n');
  return 0;
}

async function clusterStatus(options: { kubeconfig?: string; context?: string }): Promise<number> {
  const api = loadKubeConfig(options).makeApiClient(CustomObjectsApi);
  let list: { items?: CollectorView[] };
  try {
    list = (await api.listClusterCustomObject({ group: 'wisp.dev', version: 'v1alpha1', plural: 'collectors' })) as { items?: CollectorView[] };
  } catch (error) {
    throw new CliError(`list collectors: ${(error as Error).message.split('\n')[0]}`);
  }
  const rows = (list.items ?? []).map((c) => {
    const ready = c.status?.conditions?.find((k) => k.type === 'Ready');
    const agents = c.status?.conditions?.find((k) => k.type === 'AgentsReady');
    return [c.metadata?.name ?? '?', ready?.status ?? 'Unknown', `${c.status?.nodesReady ?? 0}/${c.status?.nodesDesired ?? 0}`,
      c.status?.planVersion ?? '', agents?.status === 'True' ? '' : agents?.message ?? ready?.message ?? ''];
  });
  process.stdout.write(formatOutputs([{
    name: 'collectors',
    columns: ['collector', 'ready', 'nodes', 'plan', 'message'].map((name) => ({ name, type: 'string' })),
    rows,
  }], 'table'));
  if (rows.length === 0) process.stdout.write("no Collector yet: kubectl apply -k config/samples\n");
  return 0;
}
