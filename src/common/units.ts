// Kubernetes-style quantities and Go-style durations, as custom resources and
// flags spell them. One implementation for the operator, the agent and the CLI.

const BYTE_SUFFIXES: Readonly<Record<string, number>> = Object.freeze({
  '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40,
  // Spellings people use on command lines.
  KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30, TiB: 2 ** 40, K: 1e3, KB: 1e3, kB: 1e3, MB: 1e6, GB: 1e9,
});

/** "256Mi", "1Gi", "512MiB", "10k", 4096 → bytes. Throws with the input when it is not a size. */
export function parseBytes(value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new Error(`parse size ${value}: want a non-negative number`);
    return Math.floor(value);
  }
  const match = /^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$/.exec(value.trim());
  const scale = match ? BYTE_SUFFIXES[match[2]!] : undefined;
  if (!match || scale === undefined) throw new Error(`parse size ${JSON.stringify(value)}: want e.g. 256Mi, 1Gi or a byte count`);
  return Math.floor(Number(match[1]) * scale);
}

const DURATION_UNITS_NS: Readonly<Record<string, number>> = Object.freeze({
  ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9, d: 86400e9,
});

/** "30m", "1h30m", "1.5s", "7d" → nanoseconds. Throws with the input when it is not a duration. */
export function parseDurationNs(value: string): number {
  const text = value.trim();
  const part = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)/y;
  let total = 0;
  let at = 0;
  while (at < text.length) {
    part.lastIndex = at;
    const match = part.exec(text);
    if (!match) break;
    total += Number(match[1]) * DURATION_UNITS_NS[match[2]!]!;
    at = part.lastIndex;
  }
  if (text.length === 0 || at !== text.length) throw new Error(`parse duration ${JSON.stringify(value)}: want e.g. 30s, 5m or 1h30m`);
  return Math.round(total);
}
