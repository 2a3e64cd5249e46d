import type { TableSpec } from './schema.ts';
import { httpEvents } from './http-events.ts';

export type { ColumnSpec, ColumnType, TableSpec } from './schema.ts';
export { httpEvents };

/** Every table the agent can produce, by name. */
export const builtinTables: ReadonlyMap<string, TableSpec> = new Map([httpEvents].map((t) => [t.name, t]));
