/** A query output as the agent's JSON API returns it (see query/resultToJson). */
export interface OutputJson {
  readonly name: string;
  readonly columns: readonly { name: string; type: string }[];
  readonly rows: readonly (readonly unknown[])[];
  readonly truncated?: boolean;
}

export type OutputFormat = 'table' | 'json' | 'csv';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['table', 'json', 'csv'];

const MAX_CELL_CHARS = 64;

/** Renders outputs for a terminal or a pipe; the text ends with a newline unless empty. */
export function formatOutputs(outputs: readonly OutputJson[], format: OutputFormat): string {
  switch (format) {
    case 'json': return outputs.map(jsonLines).join('');
    case 'csv': return outputs.map(csv).join('\n');
    case 'table': return outputs.map((o) => table(o, outputs.length > 1)).join('\n');
  }
}

/** One JSON object per row, one per line; `_tableName` names the output as Pixie's CLI does. */
function jsonLines(output: OutputJson): string {
  let text = '';
  for (const row of output.rows) {
    const object: Record<string, unknown> = { _tableName: output.name };
    output.columns.forEach((c, i) => { object[c.name] = row[i]; });
    text += `${JSON.stringify(object)}\n`;
  }
  return text;
}

function csv(output: OutputJson): string {
  const lines = [output.columns.map((c) => csvCell(c.name)).join(',')];
  for (const row of output.rows) lines.push(row.map(csvCell).join(','));
  return `${lines.join('\n')}\n`;
}

function csvCell(value: unknown): string {
  const text = cellText(value);
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function table(output: OutputJson, titled: boolean): string {
  const header = output.columns.map((c) => c.name);
  const cells = output.rows.map((row) => row.map((v) => clip(cellText(v).replace(/\s+/g, ' '))));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]?.length ?? 0)));
  const line = (values: readonly string[]): string => values.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  const lines = [line(header.map((h) => h.toUpperCase())), ...cells.map(line)];
  if (titled) lines.unshift(`${output.name}:`);
  if (output.truncated) lines.push(`(output truncated to ${output.rows.length} rows)`);
  return `${lines.join('\n')}\n`;
}

function cellText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

function clip(text: string): string {
  return text.length > MAX_CELL_CHARS ? `${text.slice(0, MAX_CELL_CHARS - 1)}…` : text;
}

/** "1.5 MiB" style sizes for humans. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}
