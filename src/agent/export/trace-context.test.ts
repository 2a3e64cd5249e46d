import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { traceContextFrom } from './trace-context.ts';

describe('traceContextFrom', () => {
  const trace = '0af7651916cd43dd8448eb211c80319c';
  const span = 'b7ad6b7169203331';

  it('reads a W3C traceparent header in any case', () => {
    assert.deepEqual(traceContextFrom(`{"Host":"a","TraceParent":"00-${trace}-${span}-01"}`), { traceId: trace, spanId: span });
  });

  it('reads single-header and multi-header B3, padding 64-bit trace ids', () => {
    assert.deepEqual(traceContextFrom(`{"b3":"${trace}-${span}-1"}`), { traceId: trace, spanId: span });
    assert.deepEqual(traceContextFrom(`{"X-B3-TraceId":"8448eb211c80319c","X-B3-SpanId":"${span}"}`), { traceId: `0000000000000000${'8448eb211c80319c'}`, spanId: span });
  });

  it('prefers traceparent over B3 and ignores all-zero or malformed ids', () => {
    assert.equal(traceContextFrom(`{"b3":"${trace}-${span}","traceparent":"00-${trace}-${'1'.repeat(16)}-01"}`)?.spanId, '1'.repeat(16));
    assert.equal(traceContextFrom(`{"traceparent":"00-${'0'.repeat(32)}-${span}-01"}`), undefined);
    assert.equal(traceContextFrom('{"traceparent":"garbage-garbage-garbage"}'), undefined);
    assert.equal(traceContextFrom('{"Host":"a"}'), undefined);
  });
});
