#!/usr/bin/env node
// wisp: one binary, subcommands. Exit 0 on success; otherwise one line on
// stderr ("wisp <command>: <reason>") and a non-zero exit code.
import { CliError } from './client.ts';

const USAGE = `Usage: wisp COMMAND [flags]

Commands:
  agent                run a node agent (--standalone on one host, --node-name in a cluster; needs root)
  operator             run the operator (reconciles Collector, Tracepoint, DataRetention, ExportPipeline)
  query-server         the cluster query endpoint: fans scripts out to every agent and merges
  run FILE|-           run a PxL script and print its outputs
  tables               list the agent's tables
  status               an agent's health, tables and drops; or the cluster's Collectors (--kubeconfig)
  demo                 run an agent and a small workload (HTTP, HTTPS, PostgreSQL, MariaDB, Redis, DNS), showing live traffic

Run "wisp COMMAND --help" for a command's flags.`;

/** Environment read once, here, and passed down. */
function readEnv(): { server?: string; nodeName?: string } {
  const server = process.env['WISP_SERVER'];
  const nodeName = process.env['NODE_NAME'];
  return { ...(server && { server }), ...(nodeName && { nodeName }) };
}

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  const env = readEnv();
  switch (command) {
    case 'agent': return (await import('./agent.command.ts')).agentCommand(args, env);
    case 'operator': return (await import('./operator.command.ts')).operatorCommand(args);
    case 'query-server': return (await import('./query-server.command.ts')).queryServerCommand(args);
    case 'run': await (await import('./run.command.ts')).runCommand(args, env); return 0;
    case 'status': return (await import('./status.command.ts')).statusCommand(args, env);
    case 'tables': await (await import('./tables.command.ts')).tablesCommand(args, env); return 0;
    case 'demo': return (await import('./demo.command.ts')).demoCommand(args);
    case undefined: case '-h': case '--help': case 'help':
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      throw new CliError(`unknown command ${JSON.stringify(command)} (see wisp --help)`);
  }
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (error: unknown) => {
    const command = process.argv[2] ?? '';
    const message = error instanceof CliError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
      ? (error as Error).message
      : describe(error);
    process.stderr.write(`wisp ${command}: ${message}\n`.replace('wisp : ', 'wisp: '));
    process.exitCode = 1;
  },
);

/** One line: the message and its causes. */
function describe(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  while (current instanceof Error && parts.length < 5) {
    parts.push(current.message);
    current = current.cause;
  }
  return parts.length ? parts.join(': ') : String(error);
}
