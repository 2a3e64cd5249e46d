// A rollup: summarizes a source table's rows into one row per (interval,
// group) in its own table, so longer windows survive the raw rows' budgets.
// Design and the exact semantics of each key and aggregate:
// docs/adr/0014-rollups-and-retention.md.
//
// Contracts:
// - Rows are aggregated when their batch is sealed (TableStore.subscribe),
//   before retention can expire them, so no row leaves unsummarized.
// - Each interval is written once, when it closes: closeDelayMs after its
//   end. A row for an interval already written is dropped as `late`.
// - Memory is bounded: at most maxOpenIntervals intervals and
//   maxGroupsPerInterval groups each; rows of further groups fold into one
//   overflow group per interval (keys OVERFLOW_STRING / OVERFLOW_NUMBER), so
//   totals stay exact; rows of further intervals are dropped and counted.
// - Per row, nothing is allocated except a string decoded from a plain Utf8
//   key column (dictionary columns are resolved once per distinct value).
import type { Data, RecordBatch } from 'apache-arrow';
import type { PlanRollup } from '../../common/agent-plan.ts';
import { EMPTY_METADATA_RESOLVER, type MetadataResolver, type UpidProperty } from '../../query/metadata.ts';
import { TDigest } from '../../query/tdigest.ts';
import { defineTable, type ColumnSpec, type ColumnType, type TableSpec } from '../../tables/schema.ts';
import type { SealedBatch, TableStore } from '../store/table-store.ts';
import { pathTemplate } from './path-template.ts';

export const DEFAULTS = Object.freeze({
  maxGroupsPerInterval: 1000,
  maxOpenIntervals: 4,
  /** Wait after an interval's end before it is written (rows reach the store a little after their time_). */
  closeDelayMs: 5000,
  /** Raw path → template cache entries (cleared when full). */
  pathCacheEntries: 4096,
  /** Distinct raw values of a plain string key remembered per interval (more are decoded each time). */
  utf8CacheEntries: 4096,
});

/** Key id of a value that did not fit (the row goes to the overflow group). */
const OVERFLOW_ID = -1;
/** Dictionary cache slot not resolved yet in the current interval. */
const UNRESOLVED = -2;

/** Key values of the overflow group. */
export const OVERFLOW_STRING = '(other)';
export const OVERFLOW_NUMBER = -1;

/** HTTP responses at or above this status count as errors in errorRate. */
export const ERROR_STATUS = 400;

export type RollupAggregate = 'count' | 'sum' | 'mean' | 'min' | 'max' | 'quantiles' | 'errorRate';
const AGGREGATES: ReadonlySet<string> = new Set<RollupAggregate>(['count', 'sum', 'mean', 'min', 'max', 'quantiles', 'errorRate']);

/** Kubernetes context keys resolved from upid through the MetadataResolver. */
const CONTEXT_KEYS: Readonly<Record<string, UpidProperty>> = Object.freeze({
  service: 'service_name', pod: 'pod_name', namespace: 'namespace', node: 'node_name',
});

type KeyKind = 'column' | 'context' | 'path' | 'statusClass';

interface KeyPlan {
  readonly name: string;
  readonly kind: KeyKind;
  /** Column read in the source table (upid for context keys). */
  readonly source: number;
  readonly sourceType: ColumnType;
  readonly outType: ColumnType;
  readonly property?: UpidProperty;
}

interface AggPlan {
  readonly name: string;
  readonly fn: RollupAggregate;
  /** Column read in the source table; -1 for count. */
  readonly source: number;
  /** int64 inputs are read as two 32-bit halves. */
  readonly int64Input: boolean;
  readonly outType: ColumnType;
  /** Index into Group.values (sum, min, max, errors) or Group.digests (quantiles). */
  readonly slot: number;
}

export interface RollupStats {
  readonly name: string;
  readonly from: string;
  /** Source rows the rollup received. */
  readonly rowsSeen: number;
  /** Rows aggregated (= rowsSeen - dropped). */
  readonly rowsAggregated: number;
  /** Rows not aggregated, by reason: late (interval already written), interval_limit (too many open intervals), error (unreadable batch). */
  readonly rowsDropped: Readonly<Record<'late' | 'interval_limit' | 'error', number>>;
  /** Rows aggregated into an interval's overflow group (group limit reached). */
  readonly rowsOverflowed: number;
  readonly intervalsWritten: number;
  readonly rowsWritten: number;
  readonly openIntervals: number;
  readonly openGroups: number;
}

/** A rollup definition checked against its source table, with the rollup table's schema. */
export interface CompiledRollup {
  readonly plan: PlanRollup;
  readonly spec: TableSpec;
  readonly keys: readonly KeyPlan[];
  readonly aggs: readonly AggPlan[];
  readonly valueSlots: number;
  readonly digestSlots: number;
}

/** Checks a rollup against its source table; throws a one-line reason naming the offending key. */
export function compileRollup(plan: PlanRollup, source: TableSpec): CompiledRollup {
  const where = `rollup ${plan.name}`;
  const column = (name: string) => source.columns.findIndex((c) => c.name === name);
  const used = new Set<string>(['time_']);
  const claim = (name: string, what: string): void => {
    if (used.has(name)) throw new Error(`${where}: ${what} ${name} is already an output column (time_ is the interval start)`);
    used.add(name);
  };
  if (!(plan.intervalMs >= 1000)) throw new Error(`${where}: interval must be at least 1s`);
  const keys: KeyPlan[] = plan.groupBy.map((name) => {
    claim(name, 'groupBy');
    const index = column(name);
    const spec = source.columns[index];
    if (spec && spec.type === 'time64ns') throw new Error(`${where}: groupBy ${name}: cannot group by a time column; the interval is the time`);
    if (spec && name === 'req_path' && spec.type === 'string') {
      return { name, kind: 'path', source: index, sourceType: spec.type, outType: 'string' };
    }
    if (spec && name === 'resp_status' && spec.type === 'int64') {
      return { name, kind: 'statusClass', source: index, sourceType: spec.type, outType: 'int64' };
    }
    if (spec) return { name, kind: 'column', source: index, sourceType: spec.type, outType: spec.type };
    const property = CONTEXT_KEYS[name];
    const upid = column('upid');
    if (property && upid >= 0) return { name, kind: 'context', source: upid, sourceType: 'uint128', outType: 'string', property };
    throw new Error(`${where}: groupBy ${name} is neither a column of ${source.name} nor one of ${Object.keys(CONTEXT_KEYS).join(', ')}${property ? ` (${source.name} has no upid)` : ''}`);
  });
  let valueSlots = 0;
  let digestSlots = 0;
  const aggs: AggPlan[] = Object.entries(plan.aggregates).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, fnName]) => {
    claim(name, 'aggregate');
    if (!AGGREGATES.has(fnName)) throw new Error(`${where}: aggregate ${name}: ${JSON.stringify(fnName)} is not one of ${[...AGGREGATES].join(', ')}`);
    const fn = fnName as RollupAggregate;
    if (fn === 'count') return { name, fn, source: -1, int64Input: false, outType: 'int64', slot: -1 };
    const input = fn === 'errorRate' ? 'resp_status' : inputColumn(name, source);
    const index = column(input);
    const type = source.columns[index]?.type;
    if (type !== 'int64' && type !== 'float64') {
      throw new Error(`${where}: aggregate ${name}: ${fn} reads ${input}, which is ${type ? `a ${type} column` : `not a column of ${source.name}`}; it needs int64 or float64`);
    }
    const int64Input = type === 'int64';
    if (fn === 'quantiles') return { name, fn, source: index, int64Input, outType: 'string', slot: digestSlots++ };
    const outType: ColumnType = fn === 'mean' || fn === 'errorRate' ? 'float64' : type;
    return { name, fn, source: index, int64Input, outType, slot: valueSlots++ };
  });
  const describeAgg = (a: AggPlan): string => (a.fn === 'count' ? 'Rows in the group.'
    : a.fn === 'errorRate' ? `Share of rows with resp_status >= ${ERROR_STATUS}.`
      : a.fn === 'quantiles' ? `Quantiles of ${source.columns[a.source]!.name} as px.quantiles JSON (p01 … p99).`
        : `${a.fn} of ${source.columns[a.source]!.name}.`);
  const columns: ColumnSpec[] = [
    { name: 'time_', type: 'time64ns', description: `Start of the ${plan.intervalMs} ms interval.` },
    ...keys.map((k): ColumnSpec => ({
      name: k.name, type: k.outType,
      description: k.kind === 'path' ? 'Request path template (ids replaced by *).'
        : k.kind === 'statusClass' ? 'Response status class: the status rounded down to the hundred.'
          : k.kind === 'context' ? `Kubernetes ${k.name} of the process.` : `${k.name} of ${source.name}.`,
      ...((k.outType === 'string' || k.outType === 'uint128') && { dictionary: true }),
    })),
    ...aggs.map((a): ColumnSpec => ({ name: a.name, type: a.outType, description: describeAgg(a) })),
  ];
  const spec = defineTable({ name: plan.name, description: `Rollup of ${plan.from} per ${plan.intervalMs} ms.`, columns });
  return { plan, spec, keys, aggs, valueSlots, digestSlots };
}

/**
 * The column an aggregate named `name` reads: `name` itself, or else the
 * longest column name it starts with followed by '_' (latency_sum reads
 * latency), so one column can feed several aggregates.
 */
function inputColumn(name: string, source: TableSpec): string {
  if (source.columns.some((c) => c.name === name)) return name;
  for (let cut = name.lastIndexOf('_'); cut > 0; cut = name.lastIndexOf('_', cut - 1)) {
    const prefix = name.slice(0, cut);
    if (source.columns.some((c) => c.name === prefix)) return prefix;
  }
  return name;
}

/** Per-interval, per-key: distinct key values and their ids, at most `limit` (then OVERFLOW_ID). */
class Interner {
  readonly ids = new Map<string | number, number>();
  readonly values: (string | number)[] = [];
  private readonly limit: number;
  constructor(limit: number) {
    this.limit = limit;
  }
  id(value: string | number): number {
    let id = this.ids.get(value);
    if (id === undefined) {
      // One key cannot have more distinct values than there are groups: the rest overflow.
      if (this.values.length >= this.limit) return OVERFLOW_ID;
      id = this.values.length;
      this.values.push(value);
      this.ids.set(value, id);
    }
    return id;
  }
}

class Group {
  readonly ids: Int32Array;
  next: Group | undefined;
  count = 0;
  readonly values: Float64Array;
  readonly digests: TDigest[];
  constructor(ids: Int32Array, compiled: CompiledRollup) {
    this.ids = ids;
    this.values = new Float64Array(compiled.valueSlots);
    for (const a of compiled.aggs) {
      if (a.fn === 'min') this.values[a.slot] = Infinity;
      else if (a.fn === 'max') this.values[a.slot] = -Infinity;
    }
    this.digests = Array.from({ length: compiled.digestSlots }, () => new TDigest());
  }
}

/** A plain Utf8 key value seen in this interval, by the hash of its bytes. */
interface Utf8Entry {
  readonly bytes: Uint8Array;
  readonly id: number;
  readonly next: Utf8Entry | undefined;
}

class Interval {
  readonly startNs: number;
  readonly interners: Interner[];
  /** Per key: raw UTF-8 bytes → key id, so repeated values skip decoding and templating. */
  readonly utf8Ids: Map<number, Utf8Entry>[];
  readonly utf8Entries: Int32Array;
  readonly groups = new Map<number, Group>();
  groupCount = 0;
  overflow: Group | undefined;
  constructor(startNs: number, keys: number, maxGroups: number) {
    this.startNs = startNs;
    this.interners = Array.from({ length: keys }, () => new Interner(maxGroups));
    this.utf8Ids = Array.from({ length: keys }, () => new Map<number, Utf8Entry>());
    this.utf8Entries = new Int32Array(keys);
  }
}

/** How one key column of one batch is read. */
interface KeyReader {
  readonly plan: KeyPlan;
  readonly data: Data;
  /** Dictionary columns: dictionary index → key id in the current interval (UNRESOLVED = not yet). */
  cache: Int32Array | undefined;
  /** int64 columns: the values as 32-bit halves. */
  words: Int32Array | undefined;
}

const TWO_POW_32 = 4294967296;
const decoder = new TextDecoder();

/** Reads an int64/time64ns value without making a BigInt. */
function int64At(words: Int32Array, row: number): number {
  return words[row * 2 + 1]! * TWO_POW_32 + (words[row * 2]! >>> 0);
}

function int64Words(data: Data): Int32Array {
  const values = data.values as BigInt64Array;
  return new Int32Array(values.buffer, values.byteOffset + data.offset * 8, data.length * 2);
}

export interface RollupOptions {
  maxGroupsPerInterval?: number;
  maxOpenIntervals?: number;
  closeDelayMs?: number;
  /** Kubernetes context for service/pod/namespace/node keys; none resolves to ''. */
  metadata?: MetadataResolver;
}

/**
 * One running rollup: ingests the source table's sealed batches and writes
 * closed intervals into its own table of `store` on tick().
 */
export class Rollup {
  readonly compiled: CompiledRollup;
  private readonly store: TableStore;
  private readonly intervalNs: number;
  private readonly closeDelayNs: number;
  private readonly maxGroups: number;
  private readonly maxIntervals: number;
  private readonly metadata: MetadataResolver;
  private readonly intervals = new Map<number, Interval>();
  private readonly pathCache = new Map<string, string>();
  private readonly scratchIds: Int32Array;
  private readonly unsubscribe: () => void;
  /** Intervals ending at or before this were written. */
  private writtenUntilNs = -Infinity;
  private rowsSeen = 0;
  private rowsLate = 0;
  private rowsIntervalLimit = 0;
  private rowsError = 0;
  /** Row of the batch being aggregated (what ingest() counts when a batch fails). */
  private batchRow = 0;
  private rowsOverflowed = 0;
  private intervalsWritten = 0;
  private rowsWritten = 0;

  /** Registers nothing: the caller registers compiled.spec in `store` first. Ingests the rows the source holds now. */
  constructor(compiled: CompiledRollup, store: TableStore, options: RollupOptions = {}) {
    this.compiled = compiled;
    this.store = store;
    this.intervalNs = compiled.plan.intervalMs * 1e6;
    this.closeDelayNs = (options.closeDelayMs ?? DEFAULTS.closeDelayMs) * 1e6;
    this.maxGroups = options.maxGroupsPerInterval ?? DEFAULTS.maxGroupsPerInterval;
    this.maxIntervals = options.maxOpenIntervals ?? DEFAULTS.maxOpenIntervals;
    this.metadata = options.metadata ?? EMPTY_METADATA_RESOLVER;
    this.scratchIds = new Int32Array(compiled.keys.length);
    const from = compiled.plan.from;
    store.flush(from);
    // Rows the source already holds: oldest batches first, writing each
    // interval once the held rows have moved past it, so a long backlog does
    // not hit maxOpenIntervals.
    const held = [...store.heldBatches(from)].sort((a, b) => (a.minTimeNs < b.minTimeNs ? -1 : a.minTimeNs > b.minTimeNs ? 1 : 0));
    for (const batch of held) {
      this.writeBefore(Number(batch.minTimeNs) - this.closeDelayNs);
      this.ingest(batch);
    }
    this.unsubscribe = store.subscribe(from, (sealed) => this.ingest(sealed));
  }

  get name(): string { return this.compiled.plan.name; }

  /** Stops ingesting; open intervals are discarded (their rows stay in the source table). */
  close(): void {
    this.unsubscribe();
    this.intervals.clear();
  }

  /** Writes every interval that ended closeDelayMs before `nowNs`. */
  tick(nowNs: bigint): void {
    this.store.flush(this.compiled.plan.from);
    this.writeBefore(Number(nowNs) - this.closeDelayNs);
  }

  stats(): RollupStats {
    let openGroups = 0;
    for (const i of this.intervals.values()) openGroups += i.groupCount + (i.overflow ? 1 : 0);
    return {
      name: this.name, from: this.compiled.plan.from,
      rowsSeen: this.rowsSeen, rowsAggregated: this.rowsSeen - this.rowsLate - this.rowsIntervalLimit - this.rowsError,
      rowsDropped: { late: this.rowsLate, interval_limit: this.rowsIntervalLimit, error: this.rowsError },
      rowsOverflowed: this.rowsOverflowed, intervalsWritten: this.intervalsWritten, rowsWritten: this.rowsWritten,
      openIntervals: this.intervals.size, openGroups,
    };
  }

  /**
   * Aggregates one sealed batch of the source table. Runs inside the
   * writer's commit (the capture hot path), so it never throws: a batch it
   * cannot read is counted as dropped, reason `error`.
   */
  ingest(sealed: SealedBatch): void {
    this.rowsSeen += sealed.rows;
    this.batchRow = 0;
    try {
      this.aggregate(sealed);
    } catch {
      // Rows of this batch already aggregated stay; the rest count as errors.
      this.rowsError += sealed.rows - this.batchRow;
    }
  }

  private aggregate(sealed: SealedBatch): void {
    const batch: RecordBatch = sealed.batch;
    const rows = sealed.rows;
    const { keys, aggs } = this.compiled;
    const child = (index: number): Data => batch.getChildAt(index)!.data[0]!;
    const times = int64Words(child(0));
    const readers: KeyReader[] = keys.map((plan) => {
      const data = child(plan.source);
      const dictionary = data.dictionary !== undefined;
      return {
        plan, data,
        cache: dictionary ? new Int32Array(data.dictionary!.length) : undefined,
        words: plan.sourceType === 'int64' ? int64Words(data) : undefined,
      };
    });
    const aggInputs = aggs.map((a) => (a.source < 0 ? undefined : child(a.source)));
    const aggWords = aggs.map((a, i) => (a.int64Input ? int64Words(aggInputs[i]!) : undefined));
    let interval: Interval | undefined;
    for (let row = 0; row < rows; row++) {
      this.batchRow = row;
      const t = int64At(times, row);
      const startNs = Math.floor(t / this.intervalNs) * this.intervalNs;
      if (interval === undefined || interval.startNs !== startNs) {
        interval = this.intervalFor(startNs);
        if (interval === undefined) continue;
        for (const reader of readers) reader.cache?.fill(UNRESOLVED);
      }
      const group = this.groupFor(interval, readers, row);
      group.count++;
      for (let a = 0; a < aggs.length; a++) {
        const agg = aggs[a]!;
        if (agg.source < 0) continue;
        const words = aggWords[a];
        const value = words ? int64At(words, row) : (aggInputs[a]!.values as Float64Array)[row]!;
        switch (agg.fn) {
          case 'sum': case 'mean': group.values[agg.slot]! += value; break;
          case 'min': if (value < group.values[agg.slot]!) group.values[agg.slot] = value; break;
          case 'max': if (value > group.values[agg.slot]!) group.values[agg.slot] = value; break;
          case 'errorRate': if (value >= ERROR_STATUS) group.values[agg.slot]! += 1; break;
          case 'quantiles': group.digests[agg.slot]!.add(value); break;
          case 'count': break;
        }
      }
    }
  }

  /** Writes, oldest first, every open interval that ended at or before `endNs`. */
  private writeBefore(endNs: number): void {
    const ready = [...this.intervals.values()].filter((i) => i.startNs + this.intervalNs <= endNs).sort((a, b) => a.startNs - b.startNs);
    for (const interval of ready) this.write(interval);
  }

  /** The open interval starting at startNs; undefined (row counted as dropped) when late or over the limit. */
  private intervalFor(startNs: number): Interval | undefined {
    let interval = this.intervals.get(startNs);
    if (interval) return interval;
    if (startNs + this.intervalNs <= this.writtenUntilNs) {
      this.rowsLate++;
      return undefined;
    }
    if (this.intervals.size >= this.maxIntervals) {
      this.rowsIntervalLimit++;
      return undefined;
    }
    interval = new Interval(startNs, this.compiled.keys.length, this.maxGroups);
    this.intervals.set(startNs, interval);
    return interval;
  }

  private groupFor(interval: Interval, readers: readonly KeyReader[], row: number): Group {
    const ids = this.scratchIds;
    let hash = 0x811c9dc5;
    let overflow = false;
    for (let k = 0; k < readers.length; k++) {
      const id = this.keyId(interval, k, readers[k]!, row);
      if (id === OVERFLOW_ID) overflow = true;
      ids[k] = id;
      hash = Math.imul(hash ^ id, 0x01000193);
    }
    let group = overflow ? undefined : interval.groups.get(hash);
    for (let g = group; g; g = g.next) if (sameIds(g.ids, ids)) return g;
    if (overflow || interval.groupCount >= this.maxGroups) {
      this.rowsOverflowed++;
      interval.overflow ??= new Group(new Int32Array(ids.length).fill(OVERFLOW_ID), this.compiled);
      return interval.overflow;
    }
    const created = new Group(ids.slice(), this.compiled);
    created.next = group;
    group = created;
    interval.groups.set(hash, group);
    interval.groupCount++;
    return group;
  }

  private keyId(interval: Interval, k: number, reader: KeyReader, row: number): number {
    const interner = interval.interners[k]!;
    const { plan, data } = reader;
    if (reader.cache) {
      const index = (data.values as Int32Array)[row]!;
      let id = reader.cache[index]!;
      if (id === UNRESOLVED) {
        const text = data.dictionary!.get(index) as string;
        id = interner.id(plan.kind === 'context' ? this.metadata.upid(text, plan.property!) : plan.kind === 'path' ? this.template(text) : text);
        reader.cache[index] = id;
      }
      return id;
    }
    switch (plan.sourceType) {
      case 'int64': {
        const value = int64At(reader.words!, row);
        return interner.id(plan.kind === 'statusClass' ? Math.floor(value / 100) * 100 : value);
      }
      case 'float64': return interner.id((data.values as Float64Array)[row]!);
      case 'boolean': return interner.id(((data.values as Uint8Array)[(data.offset + row) >> 3]! >> ((data.offset + row) & 7)) & 1);
      default: {
        const offsets = data.valueOffsets as Int32Array;
        const bytes = data.values as Uint8Array;
        const start = offsets[data.offset + row]!;
        const end = offsets[data.offset + row + 1]!;
        let hash = 0x811c9dc5;
        for (let i = start; i < end; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
        const cache = interval.utf8Ids[k]!;
        const head = cache.get(hash);
        for (let e = head; e; e = e.next) if (sameBytes(e.bytes, bytes, start, end)) return e.id;
        const text = decoder.decode(bytes.subarray(start, end));
        const id = interner.id(plan.kind === 'path' ? this.template(text) : text);
        if (interval.utf8Entries[k]! < DEFAULTS.utf8CacheEntries) {
          cache.set(hash, { bytes: bytes.slice(start, end), id, next: head });
          interval.utf8Entries[k]!++;
        }
        return id;
      }
    }
  }

  private template(path: string): string {
    let template = this.pathCache.get(path);
    if (template === undefined) {
      if (this.pathCache.size >= DEFAULTS.pathCacheEntries) this.pathCache.clear();
      template = pathTemplate(path);
      this.pathCache.set(path, template);
    }
    return template;
  }

  private write(interval: Interval): void {
    const name = this.name;
    const { keys, aggs } = this.compiled;
    const emit = (group: Group): void => {
      const w = this.store.writer(name);
      w.setInt(0, interval.startNs);
      for (let k = 0; k < keys.length; k++) {
        const id = group.ids[k]!;
        const key = keys[k]!;
        const value = id === OVERFLOW_ID ? (key.outType === 'string' || key.outType === 'uint128' ? OVERFLOW_STRING : OVERFLOW_NUMBER) : interval.interners[k]!.values[id]!;
        const column = k + 1;
        switch (key.outType) {
          case 'int64': w.setInt(column, value as number); break;
          case 'float64': w.setFloat(column, value as number); break;
          case 'boolean': w.setBool(column, value === 1); break;
          default: w.setString(column, value as string);
        }
      }
      for (let a = 0; a < aggs.length; a++) {
        const agg = aggs[a]!;
        const column = 1 + keys.length + a;
        const slot = group.values[agg.slot]!;
        switch (agg.fn) {
          case 'count': w.setInt(column, group.count); break;
          case 'mean': w.setFloat(column, slot / group.count); break;
          case 'errorRate': w.setFloat(column, slot / group.count); break;
          case 'quantiles': w.setString(column, group.digests[agg.slot]!.quantilesJson()); break;
          default: if (agg.outType === 'int64') w.setInt(column, slot); else w.setFloat(column, slot);
        }
      }
      this.store.commit(name);
      this.rowsWritten++;
    };
    for (const head of interval.groups.values()) for (let g: Group | undefined = head; g; g = g.next) emit(g);
    if (interval.overflow) emit(interval.overflow);
    this.intervals.delete(interval.startNs);
    this.intervalsWritten++;
    this.writtenUntilNs = Math.max(this.writtenUntilNs, interval.startNs + this.intervalNs);
  }
}

function sameBytes(cached: Uint8Array, bytes: Uint8Array, start: number, end: number): boolean {
  if (cached.length !== end - start) return false;
  for (let i = 0; i < cached.length; i++) if (cached[i] !== bytes[start + i]) return false;
  return true;
}

function sameIds(a: Int32Array, b: Int32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
