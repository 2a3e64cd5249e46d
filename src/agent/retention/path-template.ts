// Path templates for rollups: request paths carry ids (/users/42,
// /orders/3f2a…), and a rollup grouped by raw paths would have one group per
// id. The rule is cheap (one pass over the segments, no backtracking) and
// documented in docs/adr/0014-rollups-and-retention.md:
//
// - the query string and fragment are dropped (/a?b=1#c → /a);
// - a segment becomes `*` when it holds a digit and is an id, that is:
//   only digits (42), a number or date-like token of digits and . , : - _ ~
//   (2024-01-31, 1.5), hexadecimal of 8 or more characters (3f2a9c1e), a UUID,
//   or any token of 16 or more letters, digits, - and _ (base64 and ULID ids);
// - words without digits (/users, /deadbeef) and short mixed tokens (v1, /api/v2)
//   are kept, so versions and resource names stay readable;
// - the result is cut at MAX_TEMPLATE_LENGTH characters.

export const PLACEHOLDER = '*';
export const MAX_TEMPLATE_LENGTH = 256;

/** Character classes, one bit each; a segment is an id by the classes all its characters share. */
const DIGIT = 1;
const HEX = 2;
/** Hex digits and '-': what a UUID is made of. */
const HEX_DASH = 4;
/** Letters, digits, '-' and '_'. */
const WORD = 8;
/** Digits and . , : - _ ~ (numbers, dates, times). */
const NUMBERISH = 16;

const CLASSES = new Uint8Array(128);
for (let c = 48; c <= 57; c++) CLASSES[c] = DIGIT | HEX | HEX_DASH | WORD | NUMBERISH;
for (const [from, to] of [[65, 70], [97, 102]] as const) for (let c = from; c <= to; c++) CLASSES[c] = HEX | HEX_DASH | WORD;
for (const [from, to] of [[71, 90], [103, 122]] as const) for (let c = from; c <= to; c++) CLASSES[c] = WORD;
for (const c of '.,:~') CLASSES[c.charCodeAt(0)] = NUMBERISH;
CLASSES[45] = HEX_DASH | WORD | NUMBERISH; // '-'
CLASSES[95] = WORD | NUMBERISH; // '_'

/** Whether path[start, end) is an id by the rule above. */
function isIdSegment(path: string, start: number, end: number): boolean {
  let shared = DIGIT | HEX | HEX_DASH | WORD | NUMBERISH;
  let digits = 0;
  for (let i = start; i < end; i++) {
    const code = path.charCodeAt(i);
    const cls = code < 128 ? CLASSES[code]! : 0;
    if (cls & DIGIT) digits++;
    shared &= cls;
  }
  if (digits === 0) return false;
  const length = end - start;
  return (shared & NUMBERISH) !== 0
    || ((shared & HEX) !== 0 && length >= 8)
    || ((shared & HEX_DASH) !== 0 && length === 36)
    || ((shared & WORD) !== 0 && length >= 16);
}

/** The template of a request path (see the rule above). */
export function pathTemplate(path: string): string {
  let end = path.length;
  for (let i = 0; i < path.length; i++) {
    const code = path.charCodeAt(i);
    if (code === 63 || code === 35) { end = i; break; }
  }
  let out = '';
  let segmentStart = 0;
  for (let i = 0; i <= end; i++) {
    if (i < end && path.charCodeAt(i) !== 47) continue;
    if (i > segmentStart) out += isIdSegment(path, segmentStart, i) ? PLACEHOLDER : path.slice(segmentStart, i);
    if (i < end) out += '/';
    segmentStart = i + 1;
    if (out.length >= MAX_TEMPLATE_LENGTH) break;
  }
  return out.length > MAX_TEMPLATE_LENGTH ? out.slice(0, MAX_TEMPLATE_LENGTH) : out;
}
