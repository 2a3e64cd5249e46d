// make bench: every benchmark in turn; each prints ratios against a baseline
// measured in the same run (these machines are noisy).
import { agentMemoryBench } from './agent-memory.bench.ts';
import { nginxOverheadBench } from './nginx-overhead.bench.ts';
import { operatorPropagationBench } from './operator-propagation.bench.ts';
import { operatorScaleBench } from './operator-scale.bench.ts';
import { pipelineBench } from './pipeline.bench.ts';
import { queryFanoutBench } from './query-fanout.bench.ts';
import { queryFilterBench } from './query-filter.bench.ts';
import { queryGroupbyBench } from './query-groupby.bench.ts';

const only = process.argv[2];
const benches: [string, () => Promise<void>][] = [
  ['pipeline', pipelineBench],
  ['query', queryFilterBench],
  ['groupby', queryGroupbyBench],
  ['fanout', queryFanoutBench],
  ['overhead', nginxOverheadBench],
  ['memory', agentMemoryBench],
  ['propagation', operatorPropagationBench],
  ['scale', operatorScaleBench],
];
for (const [name, bench] of benches) {
  if (only && only !== name) continue;
  process.stdout.write(`\n== ${name} ==\n`);
  await bench();
}
