import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { formatOutputs, type OutputJson } from './format.ts';

const output: OutputJson = {
  name: 'output',
  columns: [{ name: 'req_path', type: 'string' }, { name: 'resp_status', type: 'int64' }],
  rows: [['/a,b', 200], ['/"q"', 404]],
};

describe('formatOutputs', () => {
  it('prints one JSON object per row with the output name', () => {
    const lines = formatOutputs([output], 'json').trimEnd().split('\n');
    assert.deepEqual(lines.map((l) => JSON.parse(l)), [
      { _tableName: 'output', req_path: '/a,b', resp_status: 200 },
      { _tableName: 'output', req_path: '/"q"', resp_status: 404 },
    ]);
  });
  it('quotes CSV cells that need it', () => {
    assert.equal(formatOutputs([output], 'csv'), 'req_path,resp_status\n"/a,b",200\n"/""q""",404\n');
  });
  it('aligns table columns under upper-case headers', () => {
    assert.equal(formatOutputs([output], 'table'), 'REQ_PATH  RESP_STATUS\n/a,b      200\n/"q"      404\n');
  });
});
