// Time values of scripts and results: relative durations ("-5m", "-2h30m"),
// RFC 3339 timestamps with up to ns precision, and their formatting. All
// times are bigint ns since the Unix epoch.

const unitNs: Readonly<Record<string, bigint>> = Object.freeze({
  ns: 1n, us: 1_000n, 'µs': 1_000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n, d: 86_400_000_000_000n,
});

const DURATION = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)/;

/** "5m", "2h30m", "1.5s" → ns; undefined when `text` is not such a duration. */
export function parseDurationNs(text: string): bigint | undefined {
  let rest = text;
  let total = 0n;
  if (rest === '') return undefined;
  while (rest !== '') {
    const match = DURATION.exec(rest);
    if (!match) return undefined;
    const [whole, amount, unit] = match as unknown as [string, string, string];
    const scale = unitNs[unit] as bigint;
    const [int, frac = ''] = amount.split('.') as [string, string?];
    total += BigInt(int) * scale;
    if (frac !== '') total += (BigInt(frac) * scale) / 10n ** BigInt(frac.length);
    rest = rest.slice(whole.length);
  }
  return total;
}

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
