import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { setConditions, type Condition } from './conditions.ts';

const t0 = new Date('2025-01-01T00:00:00.123Z');
const t1 = new Date('2025-01-01T00:05:00Z');

describe('setConditions', () => {
  describe('on a first condition', () => {
    it('adds it with the transition time and reports a transition', () => {
      const { conditions, transitions } = setConditions(undefined, [{ type: 'Ready', status: 'False', reason: 'Pending', message: 'm', observedGeneration: 1 }], t0);
      assert.deepEqual(conditions, [{ type: 'Ready', status: 'False', reason: 'Pending', message: 'm', observedGeneration: 1, lastTransitionTime: '2025-01-01T00:00:00Z' }]);
      assert.deepEqual(transitions, [{ type: 'Ready', from: undefined, to: 'False', reason: 'Pending', message: 'm' }]);
    });
  });

  describe('when only the reason or message changes', () => {
    it('keeps the transition time and reports no transition', () => {
      const existing: Condition[] = [{ type: 'Ready', status: 'False', reason: 'A', message: 'a', lastTransitionTime: '2025-01-01T00:00:00Z' }];
      const { conditions, transitions } = setConditions(existing, [{ type: 'Ready', status: 'False', reason: 'B', message: 'b', observedGeneration: 2 }], t1);
      assert.equal(conditions[0]!.lastTransitionTime, '2025-01-01T00:00:00Z');
      assert.equal(conditions[0]!.reason, 'B');
      assert.equal(conditions[0]!.observedGeneration, 2);
      assert.deepEqual(transitions, []);
    });
  });

  describe('when the status changes', () => {
    it('moves the transition time, keeps order and does not mutate the input', () => {
      const existing: Condition[] = [
        { type: 'Ready', status: 'False', reason: 'A', message: 'a', lastTransitionTime: '2025-01-01T00:00:00Z' },
        { type: 'PlanApplied', status: 'True', reason: 'Applied', message: '', lastTransitionTime: '2025-01-01T00:00:00Z' },
      ];
      const copy = structuredClone(existing);
      const { conditions, transitions } = setConditions(existing, [{ type: 'Ready', status: 'True', reason: 'Ready', message: '' }], t1);
      assert.deepEqual(conditions.map((c) => c.type), ['Ready', 'PlanApplied']);
      assert.equal(conditions[0]!.lastTransitionTime, '2025-01-01T00:05:00Z');
      assert.equal(transitions.length, 1);
      assert.deepEqual(existing, copy);
    });
  });
});

describe('stableJson', () => {
  it('ignores key order, so a status read back from the API server equals the one built', async () => {
    const { sameConditions, stableJson } = await import('./conditions.ts');
    const built = [{ type: 'Ready', status: 'True' as const, reason: 'Compiled', message: 'm', observedGeneration: 1, lastTransitionTime: '2025-01-01T00:00:00Z' }];
    const read = [{ lastTransitionTime: '2025-01-01T00:00:00Z', message: 'm', observedGeneration: 1, reason: 'Compiled', status: 'True' as const, type: 'Ready' }];
    assert.equal(stableJson(built), stableJson(read));
    assert.ok(sameConditions(built, read));
    assert.ok(!sameConditions(built, [{ ...read[0]!, message: 'other' }]));
  });
});
