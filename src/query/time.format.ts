// Time values of scripts and results: relative durations ("-5m", "-2h30m"),
// RFC 3339 timestamps with up to ns precision, and their formatting. All
// times are bigint ns since the Unix epoch.

import { parseDurationNs } from '../common/units.ts';

export { parseDurationNs };

const RFC3339 = /^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$/;

/** "2026-11-21T13:09:10.123456789Z" (or with an offset) → ns; undefined when not RFC 3339. */
export function parseRfc3339Ns(text: string): bigint | undefined {
  const match = RFC3339.exec(text.trim());
  if (!match) return undefined;
  const [, date, time, fraction = '', zone] = match as unknown as [string, string, string, string | undefined, string];
  const ms = Date.parse(`${date}T${time}${zone.toUpperCase()}`);
  if (Number.isNaN(ms)) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt(fraction.padEnd(9, '0'));
}

/**
 * A time argument written as text: "now", a relative duration signed with
 * "-" (past) or "+" (future) from `nowNs`, or an RFC 3339 timestamp.
 */
export function parseTimeText(text: string, nowNs: bigint): bigint | undefined {
  const trimmed = text.trim();
  if (trimmed === 'now') return nowNs;
  const sign = trimmed[0];
  if (sign === '-' || sign === '+') {
    const duration = parseDurationNs(trimmed.slice(1));
    if (duration !== undefined) return sign === '-' ? nowNs - duration : nowNs + duration;
  }
  return parseRfc3339Ns(trimmed);
}

/** ns since the epoch → "2026-11-21T13:09:10.123456789Z" (always 9 fraction digits, UTC). */
export function formatRfc3339Ns(ns: bigint): string {
  let seconds = ns / 1_000_000_000n;
  let nanos = ns % 1_000_000_000n;
  if (nanos < 0n) {
    nanos += 1_000_000_000n;
    seconds -= 1n;
  }
  const iso = new Date(Number(seconds) * 1000).toISOString(); // YYYY-MM-DDTHH:MM:SS.000Z
  return `${iso.slice(0, 19)}.${nanos.toString().padStart(9, '0')}Z`;
}
