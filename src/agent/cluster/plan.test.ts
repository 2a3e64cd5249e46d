import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { httpEvents } from '../../tables/http-events.ts';
import { TableStore } from '../store/table-store.ts';
import { applyPlan, parsePlan } from './plan.ts';

describe('agent plan', () => {
  it('applies table budgets to the store at once', () => {
    const store = new TableStore();
    store.register(httpEvents);
    const plan = parsePlan(JSON.stringify({ tables: [{ name: 'http_events', maxBytes: '8Mi', maxAge: '30m' }] }), 'abc123');
    const applied = applyPlan(plan, store);
    assert.deepEqual(applied, { version: 'abc123', problems: [] });
    assert.equal(store.stats()[0]!.maxBytes, 8 * 2 ** 20);
  });

  it('reads budgets in the operator\'s compiled form (bytes and milliseconds)', () => {
    const store = new TableStore();
    store.register(httpEvents);
    applyPlan(parsePlan(JSON.stringify({ schema: 1, version: 'v3', tables: [{ name: 'http_events', maxBytes: 1048576, maxAgeMs: 60000, from: 'DataRetention/x' }] }), undefined), store);
    assert.equal(store.stats()[0]!.maxBytes, 1048576);
  });

  it('reports tables it does not have and bad values without failing the rest', () => {
    const store = new TableStore();
    store.register(httpEvents);
    const plan = parsePlan(JSON.stringify({ version: 'v2', tables: [{ name: 'kafka_events', maxBytes: '1Mi' }, { name: 'http_events', maxAge: 'soon' }] }), undefined);
    const applied = applyPlan(plan, store);
    assert.equal(applied.version, 'v2');
    assert.equal(applied.problems.length, 2);
    assert.match(applied.problems[0]!, /kafka_events is not produced/);
    assert.match(applied.problems[1]!, /http_events: parse duration "soon"/);
  });

  it('refuses a document that is not a plan', () => {
    assert.throws(() => parsePlan('{', 'v'), /not JSON/);
    assert.throws(() => parsePlan('{"tables": 3}', 'v'), /"tables" must be a list/);
    assert.throws(() => parsePlan('{}', undefined), /no version/);
  });
});
