import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { httpRow, makeBatch, MemoryTableSource } from './arrow-batches.test-helper.ts';
import { decodeFragmentResult, encodeFragmentResult } from './fragment.codec.ts';
import { compileScript, executeLocal } from './index.ts';
import { executeMerge, runFragment } from './local.executor.ts';

describe('node fragment results on the wire', () => {
  const rows = [
    httpRow({ req_path: '/a', resp_status: 200n, latency: 10n, time_: 1_000n }),
    httpRow({ req_path: '/a', resp_status: 500n, latency: 30n, time_: 2_000n }),
    httpRow({ req_path: '/b', resp_status: 200n, latency: 20n, time_: 3_000n }),
  ];
  const source = new MemoryTableSource({ http_events: [makeBatch(rows)] });
  const script = `import px
df = px.DataFrame('http_events', start_time=0)
df.failure = df.resp_status >= 500
df = df.groupby('req_path').agg(n=('latency', px.count), errors=('failure', px.mean), lat=('latency', px.quantiles))
df.p50 = px.pluck_float64(df.lat, 'p50')
px.display(df[['req_path', 'n', 'errors', 'p50']])
`;

  it('round-trips partial aggregates through Arrow IPC so the merge equals a local run', () => {
    const compiled = compileScript(script, source, { nowNs: 10_000n });
    const node = compiled.outputs[0]!.nodeFragments[0]!;
    const wire = encodeFragmentResult(node, runFragment(node, { source }));
    const remote = executeMerge(compiled, () => decodeFragmentResult(node, wire));
    const local = executeLocal(compiled, source);
    assert.deepEqual(remote.outputs[0]!.table.toArray().map((r) => r.toJSON()), local.outputs[0]!.table.toArray().map((r) => r.toJSON()));
  });

  it('refuses a stream whose columns are not the fragment\'s', () => {
    const compiled = compileScript(script, source, { nowNs: 10_000n });
    const other = compileScript("import px\npx.display(px.DataFrame('http_events', start_time=0)[['req_path']])", source, { nowNs: 10_000n });
    const wire = encodeFragmentResult(other.outputs[0]!.nodeFragments[0]!, runFragment(other.outputs[0]!.nodeFragments[0]!, { source }));
    assert.throws(() => decodeFragmentResult(compiled.outputs[0]!.nodeFragments[0]!, wire), /decode node result: columns/);
  });
});
