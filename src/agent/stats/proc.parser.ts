// Parsers of the /proc files the stats samplers read. Pure functions over the
// file text: every one returns undefined on text it cannot trust (the caller
// counts it), never throws. Formats: proc(5).

/** What process_stats takes from /proc/<pid>/stat. Times are clock ticks (USER_HZ). */
export interface ProcStat {
  readonly comm: string;
  readonly minorFaults: number;
  readonly majorFaults: number;
  readonly utimeTicks: number;
  readonly stimeTicks: number;
  readonly numThreads: number;
  /** Process start, clock ticks since boot: the low half of the upid. */
  readonly startTicks: number;
  readonly vsizeBytes: number;
}

/** Fields of /proc/<pid>/stat, numbered as proc(5) numbers them (1-based). */
const STAT_FIELD = Object.freeze({
  state: 3, minflt: 10, majflt: 12, utime: 14, stime: 15, numThreads: 20, starttime: 22, vsize: 23,
});

/**
 * /proc/<pid>/stat: "pid (comm) state ...". comm may hold spaces and
 * parentheses, so the fields start after the last ')'.
 */
export function parseProcStat(text: string): ProcStat | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const fields = text.slice(close + 2).trimEnd().split(' ');
  const field = (n: number): number => toCount(fields[n - STAT_FIELD.state]);
  const stat: ProcStat = {
    comm: text.slice(open + 1, close),
    minorFaults: field(STAT_FIELD.minflt),
    majorFaults: field(STAT_FIELD.majflt),
    utimeTicks: field(STAT_FIELD.utime),
    stimeTicks: field(STAT_FIELD.stime),
    numThreads: field(STAT_FIELD.numThreads),
    startTicks: field(STAT_FIELD.starttime),
    vsizeBytes: field(STAT_FIELD.vsize),
  };
  for (const value of Object.values(stat)) if (Number.isNaN(value)) return undefined;
  return stat;
}

/** What process_stats takes from /proc/<pid>/status. */
export interface ProcStatus {
  /** VmRSS; 0 for kernel threads, which have no such line. */
  readonly rssBytes: number;
}

export function parseProcStatus(text: string): ProcStatus | undefined {
  if (!text.startsWith('Name:')) return undefined;
  const kib = keyedValue(text, '\nVmRSS:');
  if (kib === undefined) return { rssBytes: 0 };
  return Number.isNaN(kib) ? undefined : { rssBytes: kib * 1024 };
}

/** /proc/<pid>/io (readable by the process's owner or root). */
export interface ProcIo {
  readonly rcharBytes: number;
  readonly wcharBytes: number;
  readonly readBytes: number;
  readonly writeBytes: number;
}

export function parseProcIo(text: string): ProcIo | undefined {
  const lines = `\n${text}`;
  const io = {
    rcharBytes: keyedValue(lines, '\nrchar:'),
    wcharBytes: keyedValue(lines, '\nwchar:'),
    readBytes: keyedValue(lines, '\nread_bytes:'),
    writeBytes: keyedValue(lines, '\nwrite_bytes:'),
  };
  for (const value of Object.values(io)) if (value === undefined || Number.isNaN(value)) return undefined;
  return io as ProcIo;
}

/** Interface counters of one network namespace, summed over the interfaces kept. */
export interface NetDevTotals {
  rxBytes: number;
  rxPackets: number;
  rxErrors: number;
  rxDrops: number;
  txBytes: number;
  txPackets: number;
  txErrors: number;
  txDrops: number;
}

/** Columns of a /proc/<pid>/net/dev interface line after "name:". */
const NET_DEV_COLUMNS = 16;
const NetDev = Object.freeze({ rxBytes: 0, rxPackets: 1, rxErrors: 2, rxDrops: 3, txBytes: 8, txPackets: 9, txErrors: 10, txDrops: 11 });

/**
 * /proc/<pid>/net/dev: two header lines, then "name: 16 counters" per
 * interface. Interfaces whose name starts with one of `ignorePrefixes` are
 * left out (loopback and virtual ones: their traffic never leaves the host).
 */
export function parseNetDev(text: string, ignorePrefixes: readonly string[]): NetDevTotals | undefined {
  const lines = text.split('\n');
  if (!lines[0]?.startsWith('Inter-|') || lines[1]?.indexOf('|bytes') === -1) return undefined;
  const totals: NetDevTotals = { rxBytes: 0, rxPackets: 0, rxErrors: 0, rxDrops: 0, txBytes: 0, txPackets: 0, txErrors: 0, txDrops: 0 };
  for (let i = 2; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const colon = line.indexOf(':');
    if (colon < 0) return undefined;
    const name = line.slice(0, colon).trim();
    const values = line.slice(colon + 1).trim().split(/\s+/);
    if (values.length < NET_DEV_COLUMNS) return undefined;
    if (ignorePrefixes.some((prefix) => name.startsWith(prefix))) continue;
    for (const key of Object.keys(NetDev) as (keyof typeof NetDev)[]) {
      const value = toCount(values[NetDev[key]]);
      if (Number.isNaN(value)) return undefined;
      totals[key] += value;
    }
  }
  return totals;
}

/** "…\nKey:   123 kB" → 123; undefined when the key is absent; NaN when the value is not a count. */
function keyedValue(text: string, key: string): number | undefined {
  const at = text.indexOf(key);
  if (at < 0) return undefined;
  const end = text.indexOf('\n', at + key.length);
  const value = text.slice(at + key.length, end < 0 ? text.length : end).trim();
  const space = value.indexOf(' ');
  return toCount(space < 0 ? value : value.slice(0, space));
}

/** A non-negative decimal integer; NaN for anything else (missing, signed, not a number). */
function toCount(token: string | undefined): number {
  if (token === undefined || !/^\d+$/.test(token)) return Number.NaN;
  return Number(token);
}
