import { parseArgs } from 'node:util';
import { AgentClient, DEFAULT_SERVER } from './client.ts';
import { formatBytes, formatOutputs } from './format.ts';

export const TABLES_USAGE = `Usage: wisp tables [--server URL] [-o table|json]

Lists the agent's tables: columns, rows, bytes and the time of the oldest row.`;

export async function tablesCommand(args: string[], env: { server?: string }): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      server: { type: 'string' },
      output: { type: 'string', short: 'o', default: 'table' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) { process.stdout.write(`${TABLES_USAGE}\n`); return; }
  const tables = await new AgentClient(values.server ?? env.server ?? DEFAULT_SERVER).tables();
  if (values.output === 'json') {
    for (const t of tables) process.stdout.write(`${JSON.stringify(t)}\n`);
    return;
  }
  const summary = {
    name: 'tables',
    columns: ['name', 'rows', 'bytes', 'oldest', 'added', 'expired', 'dropped'].map((name) => ({ name, type: 'string' })),
    rows: tables.map((t) => [
      t.name, t.rows, formatBytes(t.bytes),
      t.oldestTimeNs === null ? '-' : new Date(Number(BigInt(t.oldestTimeNs) / 1_000_000n)).toISOString(),
      t.rowsAdded, t.rowsExpired, t.rowsDropped,
    ]),
  };
  process.stdout.write(formatOutputs([summary], 'table'));
  for (const t of tables) {
    process.stdout.write(`\n${t.name} columns:\n`);
    for (const c of t.columns) process.stdout.write(`  ${c.name.padEnd(16)} ${c.type}\n`);
  }
}
