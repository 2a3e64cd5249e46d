// Trace context carried in captured request headers (req_headers is a JSON
// object with the header names as sent). W3C traceparent wins over B3.
// In both, the propagated span id is the *caller's* span: the client-side
// row becomes that span, the server-side row its child, so spans captured on
// both ends of one request link up in the backend.

const TRACEPARENT = /"traceparent"\s*:\s*"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})"/i;
const B3_SINGLE = /"b3"\s*:\s*"([0-9a-f]{16}|[0-9a-f]{32})-([0-9a-f]{16})(?:-[01d])?(?:-[0-9a-f]{16})?"/i;
const B3_TRACE = /"x-b3-traceid"\s*:\s*"([0-9a-f]{16}|[0-9a-f]{32})"/i;
const B3_SPAN = /"x-b3-spanid"\s*:\s*"([0-9a-f]{16})"/i;

const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

export interface TraceContext {
  /** 32 lower-case hex digits. */
  traceId: string;
  /** The caller's span id, 16 lower-case hex digits. */
  spanId: string;
}

/**
 * The propagated context in a headers JSON text, or undefined. Cheap when
 * there is none: one case-insensitive scan per pattern, no JSON parse.
 */
export function traceContextFrom(headersJson: string): TraceContext | undefined {
  if (headersJson.length < 20) return undefined;
  const w3c = TRACEPARENT.exec(headersJson);
  if (w3c) return valid(w3c[2]!, w3c[3]!);
  const single = B3_SINGLE.exec(headersJson);
  if (single) return valid(single[1]!, single[2]!);
  const trace = B3_TRACE.exec(headersJson);
  const span = trace && B3_SPAN.exec(headersJson);
  return trace && span ? valid(trace[1]!, span[1]!) : undefined;
}

function valid(traceId: string, spanId: string): TraceContext | undefined {
  const trace = traceId.toLowerCase().padStart(32, '0');
  const span = spanId.toLowerCase();
  return trace === ZERO_TRACE || span === ZERO_SPAN ? undefined : { traceId: trace, spanId: span };
}
