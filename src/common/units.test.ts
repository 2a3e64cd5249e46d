import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { mustParseBytes, mustParseDurationNs, parseDurationMs, parseDurationNs, parseQuantityBytes } from './units.ts';

describe('parseQuantityBytes', () => {
  it('reads Kubernetes quantities and command-line spellings', () => {
    assert.equal(parseQuantityBytes('256Mi'), 256 * 2 ** 20);
    assert.equal(parseQuantityBytes('256MiB'), 256 * 2 ** 20);
    assert.equal(parseQuantityBytes('1Gi'), 2 ** 30);
    assert.equal(parseQuantityBytes('1G'), 1e9);
    assert.equal(parseQuantityBytes('10k'), 10_000);
    assert.equal(parseQuantityBytes('4096'), 4096);
    assert.equal(parseQuantityBytes(12), 12);
  });
  it('returns undefined for what is not a size', () => {
    assert.equal(parseQuantityBytes('lots'), undefined);
    assert.equal(parseQuantityBytes('5Qi'), undefined);
    assert.equal(parseQuantityBytes(-1), undefined);
  });
  it('has a throwing form that names the input', () => {
    assert.throws(() => mustParseBytes('lots'), /parse size "lots"/);
  });
});

describe('parseDurationNs', () => {
  it('sums Go-style parts exactly', () => {
    assert.equal(parseDurationNs('30m'), 30n * 60_000_000_000n);
    assert.equal(parseDurationNs('1h30m'), 90n * 60_000_000_000n);
    assert.equal(parseDurationNs('1.5s'), 1_500_000_000n);
    assert.equal(parseDurationNs('7d'), 7n * 86_400_000_000_000n);
    assert.equal(parseDurationMs('500ms'), 500);
  });
  it('refuses trailing garbage', () => {
    assert.equal(parseDurationNs('5 minutes'), undefined);
    assert.equal(parseDurationNs(''), undefined);
    assert.throws(() => mustParseDurationNs('soon'), /parse duration "soon"/);
  });
});
