import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { loadKubeConfig } from './kubeconfig.ts';
import { AgentClient, CliError, DEFAULT_SERVER } from './client.ts';
import { formatOutputs, OUTPUT_FORMATS, type OutputFormat } from './format.ts';

export const RUN_USAGE = `Usage: wisp run [--server URL] [--kubeconfig PATH] [--context NAME] [-o table|json|csv|arrow] [--table NAME] FILE|-

Runs a PxL script on the agent and prints its outputs. "-" reads the script from stdin.
--kubeconfig/--context: send that user's bearer token (a cluster query endpoint requires one).
-o arrow writes one output as an Arrow IPC stream (application/vnd.apache.arrow.stream):
the only one, or the one --table names.`;

export async function runCommand(args: string[], env: { server?: string }): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      server: { type: 'string' },
      output: { type: 'string', short: 'o', default: 'table' },
      table: { type: 'string' },
      kubeconfig: { type: 'string' },
      context: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) { process.stdout.write(`${RUN_USAGE}\n`); return; }
  if (positionals.length !== 1) throw new CliError('run needs one script: a FILE or - for stdin');
  const format = values.output as OutputFormat | 'arrow';
  if (format !== 'arrow' && !OUTPUT_FORMATS.includes(format)) {
    throw new CliError(`unknown output format ${JSON.stringify(values.output)}: want ${OUTPUT_FORMATS.join(', ')}, arrow`);
  }
  const file = positionals[0]!;
  const script = file === '-' ? await readStdin() : await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new CliError(`read script ${file}: ${error.code ?? error.message}`);
  });
  const token = values.kubeconfig !== undefined || values.context !== undefined ? bearerToken(values) : undefined;
  const client = new AgentClient(values.server ?? env.server ?? DEFAULT_SERVER, token === undefined ? {} : { token });
  try {
    if (format === 'arrow') {
      const bytes = await client.queryArrow(script, values.table);
      await new Promise<void>((resolve, reject) => process.stdout.write(bytes, (error) => (error ? reject(error) : resolve())));
      return;
    }
    const { outputs, agents } = await client.queryWithReports(script);
    // Partial results are never silent: one line per agent that did not contribute.
    for (const agent of agents.filter((a) => !a.ok)) {
      process.stderr.write(`wisp run: warning: node ${agent.node}${agent.address ? ` (${agent.address})` : ''} did not answer: ${agent.error}; results are partial\n`);
    }
    if (agents.length > 0 && agents.every((a) => !a.ok)) throw new CliError(`no agent answered (${agents.length} known)`);
    const chosen = values.table === undefined ? outputs : outputs.filter((o) => o.name === values.table);
    if (values.table !== undefined && chosen.length === 0) {
      throw new CliError(`no output named ${JSON.stringify(values.table)}; the script displays: ${outputs.map((o) => o.name).join(', ') || '(nothing)'}`);
    }
    process.stdout.write(formatOutputs(chosen, format));
  } catch (error) {
    if (error instanceof CliError && file !== '-' && /^\d+:\d+: /.test(error.message)) throw new CliError(`${file}:${error.message}`);
    throw error;
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The current user's bearer token from a kubeconfig (token users, as kubectl create token gives). */
function bearerToken(options: { kubeconfig?: string; context?: string }): string {
  const kubeConfig = loadKubeConfig(options);
  const token = kubeConfig.getCurrentUser()?.token;
  if (!token) throw new CliError(`the kubeconfig user ${kubeConfig.getCurrentUser()?.name ?? '?'} has no token; use a token-based context`);
  return token;
}
