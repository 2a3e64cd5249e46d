import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { formatUpid, parseUpid, UpidCache } from './upid.ts';

describe('upid', () => {
  it('round-trips agent id, pid and start ticks', () => {
    const text = formatUpid(7, 123456, 98765432101);
    assert.match(text, /^00000007-0001-e240-0000-[0-9a-f]{12}$/);
    assert.deepEqual(parseUpid(text), { asid: 7, pid: 123456, startTicks: 98765432101 });
  });
  it('refuses text that is not a upid', () => {
    assert.equal(parseUpid('not-a-upid'), undefined);
  });
  it('caches per pid and start time within its bound', () => {
    const cache = new UpidCache(1, 2);
    assert.equal(cache.get(10, 5e9), formatUpid(1, 10, 500));
    cache.get(11, 1); cache.get(12, 1);
    assert.equal(cache.get(10, 5e9), formatUpid(1, 10, 500));
  });
});
