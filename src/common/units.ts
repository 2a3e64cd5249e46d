// Kubernetes-style quantities and Go-style durations, as custom resources,
// scripts and flags spell them. One implementation for the operator, the
// agent, the query language and the CLI. The parse* functions never throw
// (undefined on text they do not understand); the must* ones throw a
// one-line error naming the input, for flags and plans.

const BYTE_FACTORS: Readonly<Record<string, number>> = Object.freeze({
  '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
  // Spellings people use on command lines (custom resources are held to the above by their schema).
  KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30, TiB: 2 ** 40, K: 1e3, KB: 1e3, kB: 1e3, MB: 1e6, GB: 1e9,
});

/** Bytes of a non-negative quantity (`256Mi`, `1G`, `512MiB`, `1024`), rounded up; undefined when malformed. */
export function parseQuantityBytes(value: string | number | undefined): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.ceil(value) : undefined;
  if (typeof value !== 'string') return undefined;
  const match = /^(\d+(?:\.\d+)?)([A-Za-z]*)$/.exec(value.trim());
  const factor = match ? BYTE_FACTORS[match[2]!] : undefined;
  return match && factor !== undefined ? Math.ceil(Number(match[1]) * factor) : undefined;
}

const UNIT_NS: Readonly<Record<string, bigint>> = Object.freeze({
  ns: 1n, us: 1_000n, 'µs': 1_000n, ms: 1_000_000n, s: 1_000_000_000n,
  m: 60_000_000_000n, h: 3_600_000_000_000n, d: 86_400_000_000_000n,
});
const DURATION_PART = /(\d+)(?:\.(\d+))?(ns|us|µs|ms|s|m|h|d)/y;

/** Exact nanoseconds of a duration (`5m`, `2h30m`, `1.5s`, `7d`); undefined when malformed. */
export function parseDurationNs(value: string | undefined): bigint | undefined {
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  let total = 0n;
  let at = 0;
  while (at < text.length) {
    DURATION_PART.lastIndex = at;
    const match = DURATION_PART.exec(text);
    if (!match) return undefined;
    const [, whole, fraction = '', unit] = match as unknown as [string, string, string | undefined, string];
    const scale = UNIT_NS[unit]!;
    total += BigInt(whole) * scale;
    if (fraction !== '') total += (BigInt(fraction) * scale) / 10n ** BigInt(fraction.length);
    at = DURATION_PART.lastIndex;
  }
  return total;
}

/** Milliseconds of a duration; undefined when malformed. */
export function parseDurationMs(value: string | undefined): number | undefined {
  const ns = parseDurationNs(value);
  return ns === undefined ? undefined : Number(ns) / 1e6;
}

export function mustParseBytes(value: string | number): number {
  const bytes = parseQuantityBytes(value);
  if (bytes === undefined) throw new Error(`parse size ${JSON.stringify(value)}: want e.g. 256Mi, 1Gi or a byte count`);
  return bytes;
}

export function mustParseDurationNs(value: string): bigint {
  const ns = parseDurationNs(value);
  if (ns === undefined) throw new Error(`parse duration ${JSON.stringify(value)}: want e.g. 30s, 5m or 1h30m`);
  return ns;
}
