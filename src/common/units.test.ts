import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { parseBytes, parseDurationNs } from './units.ts';

describe('parseBytes', () => {
  it('reads Kubernetes quantities and command-line spellings', () => {
    assert.equal(parseBytes('256Mi'), 256 * 2 ** 20);
    assert.equal(parseBytes('256MiB'), 256 * 2 ** 20);
    assert.equal(parseBytes('1Gi'), 2 ** 30);
    assert.equal(parseBytes('10k'), 10_000);
    assert.equal(parseBytes('4096'), 4096);
    assert.equal(parseBytes(12), 12);
  });
  it('refuses what is not a size, naming it', () => {
    assert.throws(() => parseBytes('lots'), /parse size "lots"/);
    assert.throws(() => parseBytes('5Qi'), /parse size "5Qi"/);
  });
});

describe('parseDurationNs', () => {
  it('sums Go-style parts', () => {
    assert.equal(parseDurationNs('30m'), 30 * 60e9);
    assert.equal(parseDurationNs('1h30m'), 90 * 60e9);
    assert.equal(parseDurationNs('1.5s'), 1.5e9);
    assert.equal(parseDurationNs('7d'), 7 * 86400e9);
  });
  it('refuses trailing garbage', () => {
    assert.throws(() => parseDurationNs('5 minutes'), /parse duration/);
    assert.throws(() => parseDurationNs(''), /parse duration/);
  });
});
