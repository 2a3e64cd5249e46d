import assert from 'node:assert/strict';
import type { V1Lease } from '@kubernetes/client-node';
import { describe, it } from 'mocha';
import { judgeLease } from './collector.controller.ts';

const now = new Date('2025-01-01T00:01:00Z');

function lease(annotations: Record<string, string>, renewTime = '2025-01-01T00:00:50.000000Z', leaseDurationSeconds = 40): V1Lease {
  return { metadata: { name: 'wisp-agent-n1', annotations }, spec: { renewTime: renewTime as never, leaseDurationSeconds } };
}
const healthy = JSON.stringify({ ready: true, reason: 'Running', message: '' });

describe('judgeLease', () => {
  it('counts a fresh, healthy Lease on the current plan as ready', () => {
    assert.equal(judgeLease(lease({ 'wisp.dev/health': healthy, 'wisp.dev/plan-version': 'abc' }), 'abc', now), undefined);
  });
  it('says AgentNotReporting without a Lease or when it expired', () => {
    assert.equal(judgeLease(undefined, 'abc', now)?.reason, 'AgentNotReporting');
    assert.equal(judgeLease(lease({ 'wisp.dev/health': healthy, 'wisp.dev/plan-version': 'abc' }, '2025-01-01T00:00:00Z', 10), 'abc', now)?.reason, 'AgentNotReporting');
  });
  it('passes on the agent\'s own reason when it reports not ready', () => {
    const failure = judgeLease(lease({ 'wisp.dev/health': JSON.stringify({ ready: false, reason: 'BpfLoadFailed', message: 'EPERM' }), 'wisp.dev/plan-version': 'abc' }), 'abc', now);
    assert.deepEqual(failure, { reason: 'BpfLoadFailed', message: 'EPERM' });
  });
  it('says PlanNotApplied when the agent runs an older plan, and HealthUnknown on garbage', () => {
    assert.equal(judgeLease(lease({ 'wisp.dev/health': healthy, 'wisp.dev/plan-version': 'old' }), 'abc', now)?.reason, 'PlanNotApplied');
    assert.equal(judgeLease(lease({ 'wisp.dev/health': '{oops' }), 'abc', now)?.reason, 'HealthUnknown');
  });
});
