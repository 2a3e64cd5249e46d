import { parseArgs } from 'node:util';
import { CoreV1Api } from '@kubernetes/client-node';
import { pino } from 'pino';
import { KubernetesAccessControl } from '../common/access-control.ts';
import { LeaseAgentDirectory } from '../query/endpoint/agent-directory.ts';
import { DEFAULTS, QueryEndpoint } from '../query/endpoint/query-endpoint.ts';
import { authorizationHeader } from '../common/kube-config.ts';
import { loadKubeConfig } from './kubeconfig.ts';

export const QUERY_SERVER_USAGE = `Usage: wisp query-server [--kubeconfig PATH] [--context NAME] [-n NAMESPACE] [--listen HOST:PORT]

The cluster query endpoint: runs each script's node fragments on every live agent (found through
their Leases in NAMESPACE, default wisp-system), merges the results, and reports per-agent failures
beside them. wisp run --server http://HOST:PORT talks to it like to an agent, with the bearer token
of its kubeconfig: a user sees only rows of pods in namespaces where they may get pods (rows without
a pod only when they may get pods in every namespace).
--listen           default ${DEFAULTS.listen}
--agent-timeout    longest wait for one agent, in ms (default ${DEFAULTS.agentTimeoutMs})`;

export async function queryServerCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      kubeconfig: { type: 'string' },
      context: { type: 'string' },
      namespace: { type: 'string', short: 'n', default: 'wisp-system' },
      listen: { type: 'string', default: DEFAULTS.listen },
      'agent-timeout': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) { process.stdout.write(`${QUERY_SERVER_USAGE}\n`); return 0; }
  const log = pino({ name: 'wisp-query-server' }, pino.destination(2));
  const kubeConfig = loadKubeConfig({
    ...(values.kubeconfig !== undefined && { kubeconfig: values.kubeconfig }),
    ...(values.context !== undefined && { context: values.context }),
  });
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const endpoint = new QueryEndpoint({
    directory: new LeaseAgentDirectory(kubeConfig, values.namespace),
    // Every request carries a Kubernetes bearer token: TokenReview, then SubjectAccessReview on pods.
    access: new KubernetesAccessControl(kubeConfig, async () => (await core.listNamespace()).items.map((n) => n.metadata?.name ?? '').filter(Boolean)),
    // Agents accept fragments only from callers allowed to query them (RBAC verb query on agents.wisp.dev): this identity.
    agentAuthorization: () => authorizationHeader(kubeConfig),
    listen: values.listen,
    ...(values['agent-timeout'] !== undefined && { agentTimeoutMs: Number(values['agent-timeout']) }),
  });
  const address = await endpoint.start();
  log.info({ listen: `${address.address}:${address.port}`, namespace: values.namespace }, 'query endpoint serving');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await endpoint.stop();
  return 0;
}
