import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { defineTable } from '../../tables/schema.ts';
import { BatchBuilder } from './batch-builder.ts';

const table = defineTable({
  name: 'sizes',
  description: 'test table',
  columns: [
    { name: 'time_', type: 'time64ns', description: 't' },
    { name: 'f', type: 'float64', description: 'f' },
    { name: 'ok', type: 'boolean', description: 'ok' },
    { name: 's', type: 'string', description: 's' },
    { name: 'd', type: 'string', description: 'd', dictionary: true },
  ],
});

describe('BatchBuilder', () => {
  describe('bytes()', () => {
    it('counts the preallocated arrays plus the string bytes and dictionary values written so far', () => {
      const capacity = 10;
      const builder = new BatchBuilder(table, capacity);
      // time_ 8 B/row, f 8 B/row, ok 1 bit/row, s offsets (capacity + 1) × 4, d indices 4 B/row.
      const fixed = capacity * 8 + capacity * 8 + Math.ceil(capacity / 8) + (capacity + 1) * 4 + capacity * 4;
      // The dictionary starts with '' (4 bytes of bookkeeping, no value bytes).
      assert.equal(builder.bytes(), fixed + 4);
      for (const [s, d] of [['abc', 'x'], ['abc', 'x'], ['é', 'yy']] as const) {
        builder.setString(3, s);
        builder.setString(4, d);
        builder.commitRow();
      }
      // s: 3 + 3 (repeat) + 2 bytes of UTF-8; d: values '', 'x', 'yy' (1 + 2 chars, 3 × 4 bookkeeping).
      assert.equal(builder.bytes(), fixed + 8 + 3 + 12);
    });
  });
});
