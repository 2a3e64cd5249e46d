import type { TableSpec } from './schema.ts';
import { httpEvents } from './http-events.ts';
import { mysqlEvents } from './mysql-events.ts';
import { pgsqlEvents } from './pgsql-events.ts';
import { connStats } from './conn-stats.ts';
import { networkStats } from './network-stats.ts';
import { procExitEvents } from './proc-exit-events.ts';
import { processStats } from './process-stats.ts';
import { dnsEvents } from './dns-events.ts';
import { redisEvents } from './redis-events.ts';

export type { ColumnSpec, ColumnType, TableSpec } from './schema.ts';
export { httpEvents };
export { mysqlEvents, pgsqlEvents };
export { connStats, networkStats, procExitEvents, processStats };
export { dnsEvents, redisEvents };

/** Every table the agent can produce, by name. */
export const builtinTables: ReadonlyMap<string, TableSpec> = new Map([httpEvents, pgsqlEvents, mysqlEvents, connStats, processStats, networkStats, procExitEvents, redisEvents, dnsEvents].map((t) => [t.name, t]));
