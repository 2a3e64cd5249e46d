import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { Agent, DEFAULTS } from '../agent/agent.ts';
import { missingPrivileges } from '../agent/privileges.ts';
import { parseListen } from '../agent/server/query-server.ts';
import { CliError } from './client.ts';
import { parseBytes } from './format.ts';

export const AGENT_USAGE = `Usage: wisp agent --standalone [--listen 127.0.0.1:7070] [--memory-limit 256MiB] [--cpu-limit 500m] [--max-body-bytes 512]

Runs a node agent: eBPF capture, tables, the query API. Needs root (CAP_BPF and CAP_PERFMON).
--standalone       one host, no Kubernetes; the query API binds loopback only
--listen           query API address (default ${DEFAULTS.listen})
--memory-limit     memory the agent may use; ${DEFAULTS.tableStorePercent}% of it goes to tables (default ${DEFAULTS.memoryLimitBytes / 2 ** 20}MiB)
--cpu-limit        CPU the agent may use (e.g. 250m, 1; 0 = unlimited; default ${DEFAULTS.cpuLimitMillicores}m); over it,
                   events are dropped in the kernel and counted (wisp_kernel_ringbufFull_total)
--max-body-bytes   request/response body bytes kept per row (default ${DEFAULTS.maxBodyBytes})`;

export interface StandaloneOptions {
  listen?: string;
  memoryLimitBytes?: number;
  maxBodyBytes?: number;
  cpuLimitMillicores?: number;
  logger?: Logger;
}

/** Checks privileges and the listen address, then starts an agent. */
export async function startStandaloneAgent(options: StandaloneOptions): Promise<Agent> {
  const missing = missingPrivileges();
  if (missing.length) throw new CliError(`missing privileges: ${missing.join(', ')} (run as root)`);
  const listen = options.listen ?? DEFAULTS.listen;
  const { host } = parseListen(listen);
  if (!isLoopback(host)) throw new CliError(`standalone agents bind loopback only; ${host} is not a loopback address`);
  const agent = new Agent({ ...options, listen });
  await agent.start();
  return agent;
}

export async function agentCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      standalone: { type: 'boolean', default: false },
      listen: { type: 'string' },
      'memory-limit': { type: 'string' },
      'max-body-bytes': { type: 'string' },
      'cpu-limit': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) { process.stdout.write(`${AGENT_USAGE}\n`); return 0; }
  if (!values.standalone) throw new CliError('only --standalone is available in this build (cluster mode comes with the operator)');
  const maxBodyBytes = values['max-body-bytes'] === undefined ? undefined : Number(values['max-body-bytes']);
  if (maxBodyBytes !== undefined && !(Number.isInteger(maxBodyBytes) && maxBodyBytes >= 0)) {
    throw new CliError(`--max-body-bytes wants a non-negative integer, got ${JSON.stringify(values['max-body-bytes'])}`);
  }
  const agent = await startStandaloneAgent({
    ...(values.listen !== undefined && { listen: values.listen }),
    ...(values['memory-limit'] !== undefined && { memoryLimitBytes: parseBytes(values['memory-limit']) }),
    ...(maxBodyBytes !== undefined && { maxBodyBytes }),
    ...(values['cpu-limit'] !== undefined && { cpuLimitMillicores: parseMillicores(values['cpu-limit']) }),
  });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await agent.stop();
  return 0;
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
