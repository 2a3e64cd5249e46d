// make bench: every benchmark in turn; each prints ratios against a baseline
// measured in the same run (these machines are noisy).
import { agentMemoryBench } from './agent-memory.bench.ts';
import { dbOverheadBench } from './db-overhead.bench.ts';
import { exportBench } from './export.bench.ts';
import { nginxOverheadBench } from './nginx-overhead.bench.ts';
import { operatorPropagationBench } from './operator-propagation.bench.ts';
import { operatorScaleBench } from './operator-scale.bench.ts';
import { pipelineBench } from './pipeline.bench.ts';
import { protocolsBench } from './protocols.bench.ts';
import { http2ProtocolBench } from './protocols-http2.bench.ts';
import { mysqlProtocolBench, pgsqlProtocolBench } from './protocols-sql.bench.ts';
import { queryFanoutBench } from './query-fanout.bench.ts';
import { queryFilterBench } from './query-filter.bench.ts';
import { queryGroupbyBench } from './query-groupby.bench.ts';
import { statsBench } from './stats.bench.ts';
import { rollupBench } from './rollup.bench.ts';

const only = process.argv[2];
const benches: [string, () => Promise<void>][] = [
  ['pipeline', pipelineBench],
  ['protocols', protocolsBench],
  ['protocols-pgsql', pgsqlProtocolBench],
  ['protocols-mysql', mysqlProtocolBench],
  ['protocols-http2', http2ProtocolBench],
  ['query', queryFilterBench],
  ['groupby', queryGroupbyBench],
  ['fanout', queryFanoutBench],
  ['overhead', () => nginxOverheadBench()],
  ['tls-overhead', () => nginxOverheadBench({ tls: true })],
  ['db-overhead', dbOverheadBench],
  ['memory', agentMemoryBench],
  ['propagation', operatorPropagationBench],
  ['scale', operatorScaleBench],
  ['stats', statsBench],
  ['rollup', rollupBench],
  ['export', exportBench],
];
for (const [name, bench] of benches) {
  if (only && only !== name) continue;
  process.stdout.write(`\n== ${name} ==\n`);
  await bench();
}
