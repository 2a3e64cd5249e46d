/**
 * upid: 128 bits naming one process on one agent for its lifetime, as Pixie
 * defines it: high 64 bits = agent id (asid, 32) << 32 | pid (32); low 64 bits
 * = process start time in clock ticks since boot (USER_HZ = 100, as in
 * /proc/PID/stat). Carried as text "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx".
 */
export const NS_PER_TICK = 10_000_000;

export function formatUpid(asid: number, pid: number, startTicks: number): string {
  const hex = (value: number, width: number): string => value.toString(16).padStart(width, '0');
  const startHi = Math.floor(startTicks / 2 ** 48);
  const startLo = startTicks - startHi * 2 ** 48;
  return `${hex(asid >>> 0, 8)}-${hex(pid >>> 16, 4)}-${hex(pid & 0xffff, 4)}-${hex(startHi & 0xffff, 4)}-${hex(startLo, 12)}`;
}

export function parseUpid(text: string): { asid: number; pid: number; startTicks: number } | undefined {
  const match = /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/i.exec(text);
  if (!match) return undefined;
  const [, asid, pidHi, pidLo, startHi, startLo] = match as unknown as [string, string, string, string, string, string];
  return {
    asid: parseInt(asid, 16),
    pid: parseInt(pidHi, 16) * 65536 + parseInt(pidLo, 16),
    startTicks: parseInt(startHi, 16) * 2 ** 48 + parseInt(startLo, 16),
  };
}

/** Formats upids for one agent, remembering one per pid (bounded). */
export class UpidCache {
  private readonly asid: number;
  private readonly maxEntries: number;
  private readonly cache = new Map<number, { ticks: number; upid: string }>();

  constructor(asid: number, maxEntries = 4096) {
    this.asid = asid;
    this.maxEntries = maxEntries;
  }

  get(pid: number, processStartNs: number): string {
    const ticks = Math.floor(processStartNs / NS_PER_TICK);
    const entry = this.cache.get(pid);
    if (entry !== undefined && entry.ticks === ticks) return entry.upid;
    if (entry === undefined && this.cache.size >= this.maxEntries) this.cache.delete(this.cache.keys().next().value!);
    const upid = formatUpid(this.asid, pid, ticks);
    this.cache.set(pid, { ticks, upid });
    return upid;
  }
}
