import { parseArgs } from 'node:util';
import { AgentClient, DEFAULT_SERVER } from './client.ts';
import { formatBytes, formatOutputs } from './format.ts';

export const TABLES_USAGE = `Usage: wisp tables [--server URL] [-o table|json]

Lists the agent's tables: columns, rows, bytes, the time of the oldest row, the budgets (max_bytes,
max_age) and the rows expired or dropped, with their reasons.`;

/** "30m", "1h30m"; "-" when there is no age limit. */
function formatAge(maxAgeNs: string | undefined): string {
  const seconds = maxAgeNs === undefined ? 0 : Number(BigInt(maxAgeNs) / 1_000_000_000n);
  if (seconds === 0) return '-';
  const parts: [number, string][] = [[Math.floor(seconds / 86400), 'd'], [Math.floor(seconds / 3600) % 24, 'h'], [Math.floor(seconds / 60) % 60, 'm'], [seconds % 60, 's']];
  return parts.filter(([n]) => n > 0).map(([n, unit]) => `${n}${unit}`).join('');
}

/** "12 (age 10, bytes 2)": a total and its non-zero reasons. */
function withReasons(total: number, byReason: Record<string, number> | undefined): string {
  const reasons = Object.entries(byReason ?? {}).filter(([, n]) => n > 0).map(([reason, n]) => `${reason} ${n}`);
  return reasons.length ? `${total} (${reasons.join(', ')})` : String(total);
}

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
    columns: ['name', 'rows', 'bytes', 'oldest', 'max_bytes', 'max_age', 'added', 'expired', 'dropped'].map((name) => ({ name, type: 'string' })),
    rows: tables.map((t) => [
      t.name, t.rows, formatBytes(t.bytes),
      t.oldestTimeNs === null ? '-' : new Date(Number(BigInt(t.oldestTimeNs) / 1_000_000n)).toISOString(),
      t.maxBytes === undefined ? '-' : formatBytes(t.maxBytes), formatAge(t.maxAgeNs),
      t.rowsAdded, withReasons(t.rowsExpired, t.rowsExpiredBy), withReasons(t.rowsDropped, t.rowsDroppedBy),
    ]),
  };
  process.stdout.write(formatOutputs([summary], 'table'));
  for (const t of tables) {
    process.stdout.write(`\n${t.name} columns:\n`);
    for (const c of t.columns) process.stdout.write(`  ${c.name.padEnd(16)} ${c.type}\n`);
  }
}
