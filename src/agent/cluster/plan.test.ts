import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { httpEvents } from '../../tables/http-events.ts';
import { RetentionManager } from '../retention/retention.manager.ts';
import { TableStore } from '../store/table-store.ts';
import { parsePlan } from './plan.ts';

function storeWithHttp(): { store: TableStore; retention: RetentionManager } {
  const store = new TableStore();
  store.register(httpEvents);
  return { store, retention: new RetentionManager({ store }) };
}

describe('agent plan', () => {
  it('applies table budgets to the store at once', () => {
    const { store, retention } = storeWithHttp();
    const plan = parsePlan(JSON.stringify({ tables: [{ name: 'http_events', maxBytes: '8Mi', maxAge: '30m' }] }), 'abc123');
    assert.equal(plan.version, 'abc123');
    assert.deepEqual(retention.apply(plan), []);
    assert.equal(store.stats()[0]!.maxBytes, 8 * 2 ** 20);
    assert.equal(store.stats()[0]!.maxAgeNs, 30n * 60n * 1_000_000_000n);
  });

  it('reads budgets and rollups in the operator\'s compiled form (bytes and milliseconds)', () => {
    const { store, retention } = storeWithHttp();
    const plan = parsePlan(JSON.stringify({
      schema: 1, version: 'v3', tables: [{ name: 'http_events', maxBytes: 1048576, maxAgeMs: 60000, from: 'DataRetention/x' }],
      rollups: [{ name: 'http_events_1m', from: 'http_events', intervalMs: 60000, groupBy: ['req_path'], aggregates: { requests: 'count' }, retainMs: 3600000, owner: 'DataRetention/x' }],
      exports: [],
    }), undefined);
    assert.deepEqual(retention.apply(plan), []);
    assert.equal(store.stats()[0]!.maxBytes, 1048576);
    assert.deepEqual(store.getTable('http_events_1m')?.columns.map((c) => c.name), ['time_', 'req_path', 'requests']);
  });

  it('reports tables it does not have and bad values without failing the rest', () => {
    const { retention } = storeWithHttp();
    const plan = parsePlan(JSON.stringify({ version: 'v2', tables: [{ name: 'kafka_events', maxBytes: '1Mi' }, { name: 'http_events', maxAge: 'soon' }] }), undefined);
    const problems = retention.apply(plan);
    assert.equal(problems.length, 2);
    assert.match(problems[0]!, /kafka_events is not produced/);
    assert.match(problems[1]!, /http_events: parse duration "soon"/);
  });

  it('refuses a document that is not a plan', () => {
    assert.throws(() => parsePlan('{"collector": {"sources": "http"}}', 'v'), /collector\.sources must be a list of strings/);
    assert.deepEqual(parsePlan(JSON.stringify({ collector: { name: 'c', sources: ['http'], namespaces: { include: ['a'], exclude: [] }, maxBodyBytes: 9, dataAccess: 'PIIRestricted' } }), 'v').collector,
      { sources: ['http'], namespaces: { include: ['a'], exclude: [] }, maxBodyBytes: 9, dataAccess: 'PIIRestricted' });
    assert.throws(() => parsePlan('{', 'v'), /not JSON/);
    assert.throws(() => parsePlan('{"tables": 3}', 'v'), /"tables" must be a list/);
    assert.throws(() => parsePlan('{}', undefined), /no version/);
    assert.throws(() => parsePlan('{"rollups": [{"name": "r", "from": "t", "intervalMs": "1m"}]}', 'v'), /rollups\[0\]\.intervalMs must be a positive number/);
  });
});
