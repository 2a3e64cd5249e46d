import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { httpRow, makeBatch, MemoryTableSource } from './arrow-batches.test-helper.ts';
import { parseQueryRequest, pickOutput } from './api.ts';
import { compileScript, executeLocal } from './index.ts';

describe('query API requests', () => {
  it('reads the script and the optional output name', () => {
    assert.deepEqual(parseQueryRequest('{"script":"import px","output":"a"}'), { script: 'import px', output: 'a' });
    assert.deepEqual(parseQueryRequest('{"script":"import px"}'), { script: 'import px' });
  });

  it('says in one line what is wrong with a request', () => {
    assert.equal(parseQueryRequest('{'), 'request body is not JSON');
    assert.equal(parseQueryRequest('null'), 'request body needs a "script" string');
    assert.equal(parseQueryRequest('{"script":3}'), 'request body needs a "script" string');
  });

  it('picks the named output, or the only one, and names the choices otherwise', () => {
    const source = new MemoryTableSource({ http_events: [makeBatch([httpRow({ time_: 1n })])] });
    const two = executeLocal(compileScript("import px\ndf = px.DataFrame('http_events', start_time=0)\npx.display(df, 'a')\npx.display(df, 'b')", source, { nowNs: 10n }), source);
    assert.equal((pickOutput(two, 'b') as { name: string }).name, 'b');
    assert.equal(pickOutput(two, undefined), 'the script has 2 outputs; pick one of: a, b');
    assert.equal(pickOutput(two, 'c'), 'no output named "c"; pick one of: a, b');
  });
});
