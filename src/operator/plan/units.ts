// The plan's view of quantities and durations: the shared parsers
// (src/common/units.ts), with durations required to be positive — an
// interval, TTL or age of zero is a mistake in a custom resource.
import { parseDurationMs as parseAnyDurationMs, parseQuantityBytes } from '../../common/units.ts';

export { parseQuantityBytes };

/** Whole milliseconds of a positive duration ("1h30m" → 5400000); undefined when malformed or zero. */
export function parseDurationMs(value: string | undefined): number | undefined {
  const ms = parseAnyDurationMs(value);
  return ms !== undefined && ms > 0 ? Math.round(ms) : undefined;
}
