import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { httpRow, makeBatch, MemoryTableSource } from '../arrow-batches.test-helper.ts';
import { compileScript, executeOverSources } from '../index.ts';
import { EMPTY_METADATA_RESOLVER, type MetadataResolver } from '../metadata.ts';
import { scopeToNamespaces } from './row-scope.ts';

describe('scopeToNamespaces', () => {
  const upidA = '00000001-0000-0001-0000-000000000001';
  const upidB = '00000001-0000-0002-0000-000000000001';
  const source = new MemoryTableSource({ http_events: [makeBatch([
    httpRow({ upid: upidA, req_path: '/a', time_: 1n }),
    httpRow({ upid: upidB, req_path: '/b', time_: 2n }),
    httpRow({ upid: '00000001-0000-0003-0000-000000000001', req_path: '/no-pod', time_: 3n }),
  ])] });
  const namespaces: Record<string, string> = { [upidA]: 'shop', [upidB]: 'payments' };
  const metadata: MetadataResolver = { ...EMPTY_METADATA_RESOLVER, upid: (upid, property) => (property === 'namespace' ? namespaces[upid] ?? '' : '') };
  const script = "import px\ndf = px.DataFrame('http_events', start_time=0)\npx.display(df.groupby('req_path').agg(n=('latency', px.count)))\n";
  const paths = (compiled: ReturnType<typeof compileScript>): string[] =>
    executeOverSources(compiled, [source], { metadata }).outputs[0]!.table.toArray().map((r) => r.toJSON().req_path as string).sort();

  it('keeps only rows of pods in the namespaces the requester may read', () => {
    const compiled = compileScript(script, source, { nowNs: 10n });
    assert.deepEqual(paths(scopeToNamespaces(compiled, { allNamespaces: false, namespaces: ['shop'] })), ['/a']);
    assert.deepEqual(paths(scopeToNamespaces(compiled, { allNamespaces: false, namespaces: ['shop', 'payments'] })), ['/a', '/b']);
  });

  it('leaves the plan alone for a requester who may read every namespace (rows without a pod included)', () => {
    const compiled = compileScript(script, source, { nowNs: 10n });
    assert.equal(scopeToNamespaces(compiled, { allNamespaces: true, namespaces: [] }), compiled);
    assert.deepEqual(paths(compiled), ['/a', '/b', '/no-pod']);
  });
});
