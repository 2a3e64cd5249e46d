import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { pino, type Logger } from 'pino';
import { ClusterAgent } from '../agent/cluster/cluster-agent.ts';
import { PodIndex } from '../agent/k8s/pod-index.ts';
import { bearerToken, KubernetesAccessControl } from '../common/access-control.ts';
import { Agent, DEFAULTS, type AgentOptions } from '../agent/agent.ts';
import { kubeSecretReader } from '../agent/export/secrets.ts';
import { missingPrivileges } from '../agent/privileges.ts';
import { parseListen } from '../common/http-server.ts';
import { loadAgentConfig, type AgentConfig } from './agent-config.ts';
import { CliError } from './client.ts';
import { loadKubeConfig } from './kubeconfig.ts';
import { mustParseBytes } from '../common/units.ts';
import { DataAccess } from '../operator/api/v1alpha1/collector.types.ts';
import { parseSources, type DataAccessMode } from '../agent/privacy/collector-scope.ts';

export const AGENT_USAGE = `Usage: wisp agent --standalone [flags]
       wisp agent --node-name NAME [--kubeconfig PATH] [--context NAME] [-n NAMESPACE] [flags]

Runs a node agent: eBPF capture, tables, the query API. Needs root (CAP_BPF and CAP_PERFMON).
--standalone       one host, no Kubernetes; the query API binds loopback only
--node-name        in a cluster: the Node this agent serves (default: $NODE_NAME); the agent watches the
                   plan ConfigMap in NAMESPACE (default wisp-system) and renews Lease wisp-agent-NAME there
--listen           query API address (default ${DEFAULTS.listen})
--advertise-address  in a cluster: host:port the query endpoint uses to reach this agent (default: --listen)
--memory-limit     memory the agent may use; ${DEFAULTS.tableStorePercent}% of it goes to tables (default ${DEFAULTS.memoryLimitBytes / 2 ** 20}Mi)
--cpu-limit        CPU the agent may use (e.g. 250m, 1; 0 = unlimited; default ${DEFAULTS.cpuLimitMillicores}m); over it,
                   events are dropped in the kernel and counted (wisp_kernel_ringbufFull_total)
--max-body-bytes   request/response body bytes kept per row (default ${DEFAULTS.maxBodyBytes})
--sources LIST     Collector sources captured, comma-separated (default all): http, http2, pgsql, mysql, redis,
                   dns, tls, conn, process, network; rows of other sources are dropped and counted
                   (wisp_agent_records_dropped_total{reason="source_disabled"}); without tls, no TLS
                   uprobes are attached at all (each one traps on every SSL call)
--data-access MODE what rows keep: Full (default), Restricted (no bodies, headers, query strings or SQL
                   literals), PIIRestricted (e-mails, card numbers, tokens and SQL literals masked)
                   In a cluster the Collector's plan replaces --sources, --data-access and --max-body-bytes.
--no-capture       do not attach eBPF programs (an agent that only plays a node, for tests)
--config PATH      standalone: apply wisp.dev/v1alpha1 DataRetention and ExportPipeline documents from a YAML
                   file or a folder of *.yaml, validated as a cluster would; SIGHUP re-reads them`;

export interface StandaloneOptions extends AgentOptions {
  /** A YAML file or folder of DataRetention / ExportPipeline documents (src/cli/agent-config.ts). */
  config?: string;
}

/** Checks privileges and the listen address, then starts an agent. */
export async function startStandaloneAgent(options: StandaloneOptions): Promise<Agent> {
  if (options.capture !== false) {
    const missing = missingPrivileges();
    if (missing.length) throw new CliError(`missing privileges: ${missing.join(', ')} (run as root)`);
  }
  const listen = options.listen ?? DEFAULTS.listen;
  const { host } = parseListen(listen);
  if (!isLoopback(host)) throw new CliError(`standalone agents bind loopback only; ${host} is not a loopback address`);
  // An invalid config fails before anything starts.
  const config = options.config === undefined ? undefined : loadAgentConfig(options.config);
  const logger = options.logger ?? pino({ name: 'wisp-agent' }, pino.destination(2));
  const agent = new Agent({ ...options, listen, logger });
  await agent.start();
  if (config) applyConfig(agent, config, logger);
  return agent;
}

/** Applies a loaded config to a running agent; what it cannot apply is logged, not fatal. */
function applyConfig(agent: Agent, config: AgentConfig, logger: Logger): void {
  const problems = agent.applyPlan(config);
  logger.info({ files: config.files, tables: config.tables.length, rollups: config.rollups.length, exports: config.exports.length, problems }, 'config applied');
}

/** SIGHUP: re-reads the config; an invalid one is reported and the running one kept. */
function reloadOnHangup(agent: Agent, path: string, logger: Logger): () => void {
  const reload = (): void => {
    try {
      applyConfig(agent, loadAgentConfig(path), logger);
    } catch (error) {
      logger.error({ err: (error as Error).message }, 'config not reloaded; keeping the running one');
    }
  };
  process.on('SIGHUP', reload);
  return () => process.off('SIGHUP', reload);
}

export async function agentCommand(args: string[], env: { nodeName?: string }): Promise<number> {
  const { values } = parseArgs({
    args,
    allowNegative: true,
    options: {
      standalone: { type: 'boolean', default: false },
      'node-name': { type: 'string' },
      kubeconfig: { type: 'string' },
      context: { type: 'string' },
      namespace: { type: 'string', short: 'n' },
      listen: { type: 'string' },
      'advertise-address': { type: 'string' },
      'memory-limit': { type: 'string' },
      'max-body-bytes': { type: 'string' },
      'cpu-limit': { type: 'string' },
      sources: { type: 'string' },
      'data-access': { type: 'string' },
      capture: { type: 'boolean', default: true },
      config: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) { process.stdout.write(`${AGENT_USAGE}\n`); return 0; }
  const maxBodyBytes = values['max-body-bytes'] === undefined ? undefined : Number(values['max-body-bytes']);
  if (maxBodyBytes !== undefined && !(Number.isInteger(maxBodyBytes) && maxBodyBytes >= 0)) {
    throw new CliError(`--max-body-bytes wants a non-negative integer, got ${JSON.stringify(values['max-body-bytes'])}`);
  }
  const dataAccess = values['data-access'];
  if (dataAccess !== undefined && !(Object.values(DataAccess) as string[]).includes(dataAccess)) {
    throw new CliError(`--data-access wants one of ${Object.values(DataAccess).join(', ')}, got ${JSON.stringify(dataAccess)}`);
  }
  let sources: ReturnType<typeof parseSources> | undefined;
  try {
    sources = values.sources === undefined ? undefined : parseSources(values.sources);
  } catch (error) {
    throw new CliError(`--sources: ${(error as Error).message}`);
  }
  const options: StandaloneOptions = {
    ...(values.listen !== undefined && { listen: values.listen }),
    ...(values['memory-limit'] !== undefined && { memoryLimitBytes: parseMemoryLimit(values['memory-limit']) }),
    ...(maxBodyBytes !== undefined && { maxBodyBytes }),
    ...(values['cpu-limit'] !== undefined && { cpuLimitMillicores: parseMillicores(values['cpu-limit']) }),
    capture: values.capture,
    ...((sources !== undefined || dataAccess !== undefined) && {
      scope: { ...(sources !== undefined && { sources }), ...(dataAccess !== undefined && { dataAccess: dataAccess as DataAccessMode }) },
    }),
  };
  let stop: () => Promise<void>;
  if (values.standalone) {
    const logger = pino({ name: 'wisp-agent' }, pino.destination(2));
    const agent = await startStandaloneAgent({ ...options, logger, ...(values.config !== undefined && { config: values.config }) });
    const stopReloading = values.config === undefined ? () => {} : reloadOnHangup(agent, values.config, logger);
    stop = () => { stopReloading(); return agent.stop(); };
  } else {
    if (values.config !== undefined) throw new CliError('--config is for --standalone agents; in a cluster, apply the documents with kubectl');
    const nodeName = values['node-name'] ?? env.nodeName;
    if (!nodeName) throw new CliError('needs --standalone, or --node-name (or $NODE_NAME) to run in a cluster');
    const cluster = await startClusterAgent({
      ...options, nodeName,
      ...(values.kubeconfig !== undefined && { kubeconfig: values.kubeconfig }),
      ...(values.context !== undefined && { context: values.context }),
      ...(values.namespace !== undefined && { namespace: values.namespace }),
      ...(values['advertise-address'] !== undefined && { advertiseAddress: values['advertise-address'] }),
    });
    stop = () => cluster.stop();
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await stop();
  return 0;
}

export interface ClusterOptions extends StandaloneOptions {
  nodeName: string;
  advertiseAddress?: string;
  kubeconfig?: string;
  context?: string;
  namespace?: string;
}

/** Starts an agent that takes its plan from the cluster and reports on its node Lease. */
export async function startClusterAgent(options: ClusterOptions): Promise<ClusterAgent> {
  if (options.capture !== false) {
    const missing = missingPrivileges();
    if (missing.length) throw new CliError(`missing privileges: ${missing.join(', ')} (run as root)`);
  }
  const kubeConfig = loadKubeConfig(options);
  const logger = options.logger ?? pino({ name: 'wisp-agent', base: { node: options.nodeName } }, pino.destination(2));
  const pods = new PodIndex();
  // The query API answers with every row of the node: only callers allowed to query agents (the query endpoint, admins).
  const access = new KubernetesAccessControl(kubeConfig);
  const authorize = (authorization: string | undefined): Promise<unknown> => access.authorizeAgentQuery(bearerToken(authorization));
  const agent = new Agent({ ...options, listen: options.listen ?? DEFAULTS.listen, logger, pods, authorize, secrets: kubeSecretReader(kubeConfig) });
  const cluster = new ClusterAgent({
    kubeConfig, nodeName: options.nodeName, agent, logger, pods,
    ...(options.namespace !== undefined && { namespace: options.namespace }),
    ...(options.advertiseAddress !== undefined && { advertiseAddress: options.advertiseAddress }),
  });
  await cluster.start();
  return cluster;
}


function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/** Kubernetes CPU quantities: "250m", "0.5", "2". */
export function parseMillicores(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(m?)$/.exec(text.trim());
  if (!match) throw new CliError(`--cpu-limit wants a CPU quantity such as 250m or 1, got ${JSON.stringify(text)}`);
  return Math.round(Number(match[1]) * (match[2] === 'm' ? 1 : 1000));
}

function parseMemoryLimit(text: string): number {
  try {
    return mustParseBytes(text);
  } catch (error) {
    throw new CliError(`--memory-limit: ${(error as Error).message}`);
  }
}
