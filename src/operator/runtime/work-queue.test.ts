import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { WorkQueue } from './work-queue.ts';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A promise with its resolve exposed. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => { open = resolve; });
  return { promise, open };
}

describe('WorkQueue', () => {
  describe('when a key is added many times before it runs', () => {
    it('reconciles it once', async () => {
      const calls: string[] = [];
      const blocker = gate();
      const q2 = new WorkQueue({ reconcile: async (key) => { calls.push(key); if (key === 'block') await blocker.promise; }, concurrency: 1 });
      q2.add('block');
      for (let i = 0; i < 5; i++) q2.add('a');
      blocker.open();
      await q2.idle();
      assert.deepEqual(calls, ['block', 'a']);
      await q2.shutdown();
    });
  });

  describe('when a key is added while its reconcile runs', () => {
    it('runs it once more after, never two at a time', async () => {
      let running = 0;
      let maxRunning = 0;
      let calls = 0;
      const first = gate();
      const queue = new WorkQueue({
        concurrency: 4,
        reconcile: async () => {
          running++; calls++;
          maxRunning = Math.max(maxRunning, running);
          if (calls === 1) await first.promise;
          running--;
        },
      });
      queue.add('k');
      await sleep(5);
      queue.add('k'); queue.add('k'); queue.add('k');
      first.open();
      await queue.idle();
      assert.equal(calls, 2);
      assert.equal(maxRunning, 1);
      await queue.shutdown();
    });
  });

  describe('with bounded concurrency', () => {
    it('runs at most that many reconciles at once', async () => {
      let running = 0;
      let maxRunning = 0;
      const queue = new WorkQueue({
        concurrency: 3,
        reconcile: async () => { running++; maxRunning = Math.max(maxRunning, running); await sleep(10); running--; },
      });
      for (let i = 0; i < 10; i++) queue.add(`k${i}`);
      await queue.idle();
      assert.equal(maxRunning, 3);
      await queue.shutdown();
    });
  });

  describe('when a reconcile throws', () => {
    it('retries with a growing per-key backoff, capped, and resets it on success', async () => {
      const times: number[] = [];
      const errors: number[] = [];
      let calls = 0;
      const queue = new WorkQueue({
        baseDelayMs: 10,
        maxDelayMs: 40,
        reconcile: async () => {
          times.push(Date.now());
          calls++;
          if (calls <= 4) throw new Error('boom');
        },
        onError: (_key, _error, retryInMs) => errors.push(retryInMs),
      });
      queue.add('k');
      while (calls < 5) await sleep(5);
      assert.deepEqual(errors, [10, 20, 40, 40]);
      assert.equal(queue.failureCount('k'), 0);
      const gaps = times.slice(1).map((t, i) => t - times[i]!);
      assert.ok(gaps[0]! >= 9 && gaps[1]! >= 19 && gaps[2]! >= 39, `gaps ${gaps.join(',')}`);
      await queue.shutdown();
    });

    it('keeps other keys flowing', async () => {
      const done: string[] = [];
      const queue = new WorkQueue({
        baseDelayMs: 1000,
        reconcile: async (key) => { if (key === 'bad') throw new Error('bad'); done.push(key); },
      });
      queue.add('bad'); queue.add('good');
      await sleep(20);
      assert.deepEqual(done, ['good']);
      assert.equal(queue.failureCount('bad'), 1);
      await queue.shutdown();
    });
  });

  describe('when a reconcile asks for requeueAfterMs', () => {
    it('runs the key again after that delay', async () => {
      const times: number[] = [];
      const queue = new WorkQueue({
        reconcile: async () => { times.push(Date.now()); return times.length < 3 ? { requeueAfterMs: 15 } : {}; },
      });
      queue.add('k');
      await sleep(80);
      assert.equal(times.length, 3);
      assert.ok(times[1]! - times[0]! >= 14);
      await queue.shutdown();
    });

    it('lets an explicit add come earlier', async () => {
      let calls = 0;
      const queue = new WorkQueue({ reconcile: async () => { calls++; return { requeueAfterMs: 10_000 }; } });
      queue.add('k');
      await queue.idle();
      queue.add('k');
      await queue.idle();
      assert.equal(calls, 2);
      await queue.shutdown();
    });
  });

  describe('on shutdown', () => {
    it('waits for reconciles in flight and takes no more work', async () => {
      let finished = false;
      let calls = 0;
      const queue = new WorkQueue({ reconcile: async () => { calls++; await sleep(20); finished = true; return { requeueAfterMs: 1 }; } });
      queue.add('k');
      await sleep(2);
      await queue.shutdown();
      assert.ok(finished);
      queue.add('k2');
      await sleep(10);
      assert.equal(calls, 1);
    });
  });
});
