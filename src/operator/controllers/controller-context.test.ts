import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import type { DataRetention, Tracepoint } from '../resources.ts';
import { objectKey } from '../resources.ts';
import { PlanCompilation, StatusMemo, type Cache, type Caches, type PlanChange } from './controller-context.ts';

class ListCache<T extends { metadata: { name?: string; namespace?: string } }> implements Cache<T> {
  items: T[] = [];
  get(name: string, namespace?: string): T | undefined { return this.items.find((o) => objectKey(o.metadata) === objectKey({ name, ...(namespace && { namespace }) })); }
  list(): readonly T[] { return this.items; }
}

function tp(name: string, generation = 1): Tracepoint {
  return { metadata: { name, namespace: 'shop', generation }, spec: { target: { selector: { matchLabels: { app: name } } }, probes: [{ function: 'main.f', latency: true }], table: `t_${name}` } };
}

function dr(name: string, created: string): DataRetention {
  return { metadata: { name, creationTimestamp: new Date(created), generation: 1 }, spec: { tables: [{ name: 'http_events', maxBytes: '64Mi' }] } };
}

function setup(debounceMs: number) {
  const tracepoints = new ListCache<Tracepoint>();
  const dataRetentions = new ListCache<DataRetention>();
  const caches = { collectors: new ListCache(), tracepoints, dataRetentions, exportPipelines: new ListCache(), nodes: new ListCache(), leases: new ListCache() } as unknown as Caches;
  const changes: PlanChange[] = [];
  let compilations = 0;
  const plan = new PlanCompilation(caches, () => Promise.resolve(true), (c) => changes.push(c), { debounceMs, maxDelayMs: debounceMs * 3 });
  const wrapped = plan as unknown as { compile: (g: number) => Promise<unknown> };
  const compile = wrapped.compile.bind(plan);
  wrapped.compile = (g) => { compilations++; return compile(g); };
  return { plan, tracepoints, dataRetentions, changes, compilations: () => compilations };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('PlanCompilation', () => {
  it('compiles once for concurrent readers and again only after an invalidation', async () => {
    const { plan, tracepoints, compilations } = setup(0);
    tracepoints.items.push(tp('a'));
    const [x, y] = await Promise.all([plan.get(), plan.get()]);
    assert.equal(x, y);
    assert.equal(compilations(), 1);
    assert.equal(await plan.get(), x);
    plan.invalidate();
    tracepoints.items.push(tp('b'));
    assert.equal((await plan.get()).tracepoints.length, 2);
    assert.equal(compilations(), 2);
  });

  it('compiles a burst of changes once, in the background, and reports only the changed verdicts', async () => {
    const { plan, tracepoints, changes, compilations } = setup(20);
    tracepoints.items.push(tp('a'));
    await plan.get();
    for (let i = 0; i < 50; i++) { tracepoints.items.push(tp(`n${i}`)); plan.invalidate(); }
    await sleep(80);
    assert.equal(compilations(), 2);
    assert.equal(changes.length, 1);
    assert.equal(changes[0]!.plan, true);
    assert.equal(changes[0]!.inputs.length, 50);
    assert.ok(!changes[0]!.inputs.includes('Tracepoint:shop/a'));
    assert.equal((await plan.latest()).tracepoints.length, 51);
    plan.close();
  });

  it('re-queues an object whose verdict changed because of another one (conflicts)', async () => {
    const { plan, dataRetentions, changes } = setup(10);
    dataRetentions.items.push(dr('old', '2025-01-01T00:00:00Z'), dr('new', '2025-01-02T00:00:00Z'));
    const first = await plan.get();
    assert.equal(plan.verdict(first, 'DataRetention', 'new')?.reason, 'Conflict');
    dataRetentions.items.splice(0, 1);
    plan.invalidate();
    const second = await plan.get();
    assert.equal(plan.verdict(second, 'DataRetention', 'new')?.ok, true);
    assert.deepEqual(changes.map((c) => c.inputs), [['DataRetention:new']]);
    plan.close();
  });

  it('lets latest() return the previous compilation while one is pending, get() waits for it', async () => {
    const { plan, tracepoints } = setup(30);
    tracepoints.items.push(tp('a'));
    const first = await plan.get();
    tracepoints.items.push(tp('b'));
    plan.invalidate();
    assert.equal(await plan.latest(), first);
    const fresh = await plan.get();
    assert.equal(fresh.tracepoints.length, 2);
    assert.equal(await plan.latest(), fresh);
    plan.close();
  });

  it('does not starve get() under a continuous stream of invalidations', async () => {
    const { plan, tracepoints } = setup(20);
    tracepoints.items.push(tp('a'));
    const stream = setInterval(() => plan.invalidate(), 5);
    try {
      const started = Date.now();
      await plan.get();
      assert.ok(Date.now() - started < 200);
    } finally { clearInterval(stream); plan.close(); }
  });
});

describe('StatusMemo', () => {
  it('suppresses a repeated write only while the cache still shows the version it was written over', () => {
    const memo = new StatusMemo();
    assert.equal(memo.alreadyWritten('k', 'd1', '10'), false);
    memo.remember('k', 'd1', '10');
    assert.equal(memo.alreadyWritten('k', 'd1', '10'), true);
    assert.equal(memo.alreadyWritten('k', 'd2', '10'), false);
    assert.equal(memo.alreadyWritten('k', 'd1', '11'), false);
    memo.forget('k');
    assert.equal(memo.alreadyWritten('k', 'd1', '10'), false);
  });
});

describe('PlanCompilation.settled', () => {
  it('waits for a due background compilation', async () => {
    const { plan, tracepoints, changes } = setup(20);
    tracepoints.items.push(tp('a'));
    await plan.get();
    tracepoints.items.push(tp('b'));
    plan.invalidate();
    assert.equal(plan.busy, true);
    await plan.settled();
    assert.equal(plan.busy, false);
    assert.deepEqual(changes.map((c) => c.inputs), [['Tracepoint:shop/b']]);
    plan.close();
  });
});
