/**
 * Named monotonic counters (`events_data`, `parse_error.bad_status_line`, …),
 * exported on /metrics as `wisp_*_total{reason}` by the caller.
 *
 * Names are open-ended so parsers can add reasons without touching the
 * tracker; a dotted suffix (`parse_error.<reason>`) marks a labelled family.
 */
export class Counters {
  private readonly values = new Map<string, number>();

  inc(name: string, by = 1): void {
    this.values.set(name, (this.values.get(name) ?? 0) + by);
  }

  get(name: string): number {
    return this.values.get(name) ?? 0;
  }

  /** A copy, keys sorted, so two snapshots compare and print stably. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const key of [...this.values.keys()].sort()) out[key] = this.values.get(key) ?? 0;
    return out;
  }
}
