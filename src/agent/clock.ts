import { performance } from 'node:perf_hooks';

const TWO_POW_32 = 4294967296;

/**
 * Converts CLOCK_MONOTONIC nanoseconds (what bpf_ktime_get_ns and
 * process.hrtime use on Linux) to ns since the Unix epoch. The offset is
 * taken once at construction; precision is that of performance.timeOrigin
 * (about a microsecond).
 */
export class EpochClock {
  readonly offsetNs: bigint;
  private readonly offsetHi: number;
  private readonly offsetLo: number;

  constructor() {
    const monoNs = process.hrtime.bigint();
    const epochNs = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
    this.offsetNs = epochNs - monoNs;
    this.offsetHi = Number(this.offsetNs >> 32n);
    this.offsetLo = Number(this.offsetNs & 0xffffffffn);
  }

  /** Monotonic ns now, as a number (exact below 2^53 ns ≈ 104 days of uptime). */
  static monotonicNs(): number {
    return Number(process.hrtime.bigint());
  }

  nowNs(): bigint {
    return process.hrtime.bigint() + this.offsetNs;
  }

  toEpochNs(monotonicNs: number): bigint {
    return BigInt(monotonicNs) + this.offsetNs;
  }

  /**
   * The epoch time of `monotonicNs` as two 32-bit halves, without allocating
   * a BigInt (for BatchBuilder.setInt64Parts on the hot path).
   */
  toEpochParts(monotonicNs: number, out: { hi: number; lo: number }): void {
    const monoHi = Math.floor(monotonicNs / TWO_POW_32);
    let lo = this.offsetLo + (monotonicNs - monoHi * TWO_POW_32);
    let hi = this.offsetHi + monoHi;
    if (lo >= TWO_POW_32) { lo -= TWO_POW_32; hi += 1; }
    out.hi = hi;
    out.lo = lo;
  }
}
