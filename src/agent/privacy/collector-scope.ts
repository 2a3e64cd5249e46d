// The Collector's scoping, applied by the agent to every protocol record
// before it is stored: which sources are on, which namespaces are observed,
// how many body bytes are kept, and how much of payloads is stored
// (dataAccess). The settings come from the plan's `collector` section
// (src/common/agent-plan.ts) in a cluster, or from `wisp agent --standalone`
// flags (--sources, --data-access, --max-body-bytes), and change live.
//
// Where: records are judged in the tracker's sinks (user space), after
// parsing. Parsing a protocol whose source is off still costs CPU, but the
// decision is exact (the protocol is known only after inference) and takes
// effect on connections already open; no kernel change is needed.
//
// Data access modes:
// - Full: everything captured, cut at maxBodyBytes.
// - Restricted: metadata and timings only. No bodies (http req_body,
//   resp_body; pgsql resp; mysql resp_body; redis req_args and resp are
//   stored empty), no headers ("{}"), no query string in req_path, SQL text
//   with every literal and bound parameter replaced by `?`. DNS rows keep
//   their JSON: query names and answer addresses are connection metadata,
//   like remote_addr.
// - PIIRestricted: payloads kept, with personal data and credentials masked
//   (pii-masker.ts): bodies, header values (credential headers redacted,
//   a safe list kept), req_path, SQL literals, redis arguments and replies,
//   pgsql/mysql responses, DNS bodies.
//
// Namespaces: a record is kept when its process's namespace is not in
// exclude and, when include is non-empty, is in include. Processes outside
// pods (host processes, a standalone host) have no namespace: they are kept
// unless include is non-empty. The namespace is resolved once per connection
// (and re-resolved after unresolvedRecheckMs while the process is not found
// in a pod: the pod watch may not have caught up with a new pod).
// The stats tables (src/agent/stats/) ask the same question per process
// (admitProcess: conn_stats, process_stats, proc_exit_events), with the
// namespace cached per pid under the same recheck rule, and per pod
// namespace (admitNamespace: network_stats). A cached namespace outlives the
// process (rows of an exited process are still judged by the pod it ran in)
// and survives apply(): a new plan re-decides, it does not re-resolve.
//
// Sources: a record is kept when its protocol's source is on and, for TLS
// plaintext (ConnectionInfo.encrypted), when `tls` is on too.
//
// Every record not stored is counted: records_dropped.{source_disabled,
// namespace_excluded} (wisp_agent_records_dropped_total{reason} on /metrics).
import { COLLECTOR_SOURCES, DataAccess } from '../../operator/api/v1alpha1/collector.types.ts';
import type { AgentPlan as PlanDocument } from '../../common/agent-plan.ts';
import type { DnsRecord } from '../protocols/dns/dns-record.ts';
import type { HttpExchange } from '../protocols/http1/http-exchange.ts';
import type { MysqlRecord } from '../protocols/mysql/mysql-record.ts';
import type { PgsqlRecord } from '../protocols/pgsql/pgsql-record.ts';
import type { ConnectionInfo } from '../protocols/protocol.ts';
import type { RedisRecord } from '../protocols/redis/redis-record.ts';
import { NS_PER_TICK } from '../upid.ts';
import { maskHeadersJson, maskPii, maskRequestPath, maskSqlLiterals, stripQuery } from './pii-masker.ts';

export type Source = (typeof COLLECTOR_SOURCES)[number];
export type DataAccessMode = (typeof DataAccess)[keyof typeof DataAccess];
export type PlanCollector = PlanDocument['collector'];

export interface ScopeSettings {
  readonly sources: ReadonlySet<Source>;
  readonly include: ReadonlySet<string>;
  readonly exclude: ReadonlySet<string>;
  readonly maxBodyBytes: number;
  readonly dataAccess: DataAccessMode;
}

export const DEFAULTS = Object.freeze({
  /** Every source on, every namespace, Full access (what an agent without a Collector does). */
  settings: Object.freeze({
    sources: new Set<Source>(COLLECTOR_SOURCES),
    include: new Set<string>(),
    exclude: new Set<string>(),
    maxBodyBytes: 512,
    dataAccess: DataAccess.Full,
  }) as ScopeSettings,
  /** How long a process found outside pods is trusted before its namespace is looked up again. */
  unresolvedRecheckMs: 5000,
  /** Processes whose namespace is cached for the stats tables (oldest forgotten first, as KubeMetadata does). */
  maxProcessVerdicts: 65_536,
});

/**
 * Settings from a plan's collector section over `base` (fields the section
 * leaves out keep base's value). Unknown sources are ignored and an unknown
 * dataAccess falls back to Restricted (fail closed); each is one problem line.
 */
export function scopeFromCollector(collector: Partial<PlanCollector>, base: ScopeSettings = DEFAULTS.settings): { settings: ScopeSettings; problems: string[] } {
  const problems: string[] = [];
  let sources = base.sources;
  if (collector.sources !== undefined) {
    const known = new Set<Source>();
    for (const s of collector.sources) {
      if ((COLLECTOR_SOURCES as readonly string[]).includes(s)) known.add(s as Source);
      else problems.push(`collector: source ${JSON.stringify(s)} is not known to this agent; ignored`);
    }
    sources = known;
  }
  let dataAccess = base.dataAccess;
  if (collector.dataAccess !== undefined) {
    if ((Object.values(DataAccess) as string[]).includes(collector.dataAccess)) {
      dataAccess = collector.dataAccess as DataAccessMode;
    } else {
      dataAccess = DataAccess.Restricted;
      problems.push(`collector: dataAccess ${JSON.stringify(collector.dataAccess)} is not known to this agent; applying Restricted`);
    }
  }
  let maxBodyBytes = base.maxBodyBytes;
  if (collector.maxBodyBytes !== undefined) {
    if (Number.isInteger(collector.maxBodyBytes) && collector.maxBodyBytes >= 0) maxBodyBytes = collector.maxBodyBytes;
    else problems.push(`collector: maxBodyBytes ${String(collector.maxBodyBytes)} is not a non-negative integer; keeping ${maxBodyBytes}`);
  }
  return {
    settings: {
      sources,
      include: collector.namespaces ? new Set(collector.namespaces.include) : base.include,
      exclude: collector.namespaces ? new Set(collector.namespaces.exclude) : base.exclude,
      maxBodyBytes,
      dataAccess,
    },
    problems,
  };
}

/** Parses a --sources flag value: comma-separated source names (or "all"). */
export function parseSources(text: string): Set<Source> {
  const names = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 1 && names[0] === 'all') return new Set(COLLECTOR_SOURCES);
  const sources = new Set<Source>();
  for (const name of names) {
    if (!(COLLECTOR_SOURCES as readonly string[]).includes(name)) {
      throw new Error(`unknown source ${JSON.stringify(name)}; want a comma-separated list of ${COLLECTOR_SOURCES.join(', ')} (or all)`);
    }
    sources.add(name as Source);
  }
  return sources;
}

/** Namespace of a process ('' outside pods). */
export type NamespaceOf = (pid: number, processStartNs: number) => string;

/** A cached namespace and the decision the current settings make about it. */
interface Verdict {
  /** '' outside pods. */
  namespace: string;
  /** Date.now() after which an outside-pods namespace is looked up again; Infinity when the pod was found. */
  recheckAtMs: number;
  /** CollectorScope.generation `admitted` was decided under. */
  generation: number;
  admitted: boolean;
}

/** A process's verdict; pids are reused, so it holds for the process started at startTicks (/proc clock ticks, as upids compare) only. */
interface ProcessVerdict extends Verdict {
  startTicks: number;
}

export interface CollectorScopeOptions {
  readonly namespaceOf: NamespaceOf;
  readonly settings?: ScopeSettings;
  /** Wall clock in ms (tests move it). */
  readonly nowMs?: () => number;
}

/** Judges and rewrites protocol records by the current ScopeSettings. */
export class CollectorScope {
  private current: ScopeSettings;
  /** Bumped on every apply(): cached verdicts of an older generation are re-decided from their cached namespace. */
  private generation = 0;
  private readonly verdicts = new WeakMap<ConnectionInfo, Verdict>();
  /** pid → verdict for the stats tables, bounded by DEFAULTS.maxProcessVerdicts (Map order = insertion order). */
  private readonly processVerdicts = new Map<number, ProcessVerdict>();
  private readonly namespaceOf: NamespaceOf;
  private readonly nowMs: () => number;
  // Hot-path counters as fields (no string hashing per record).
  private droppedSource = 0;
  private droppedNamespace = 0;
  private masked = 0;

  constructor(options: CollectorScopeOptions) {
    this.namespaceOf = options.namespaceOf;
    this.current = options.settings ?? DEFAULTS.settings;
    this.nowMs = options.nowMs ?? Date.now;
  }

  get settings(): ScopeSettings {
    return this.current;
  }

  apply(settings: ScopeSettings): void {
    this.current = settings;
    this.generation++;
  }

  sourceOn(source: Source): boolean {
    return this.current.sources.has(source);
  }

  /** Whether a record of `source` from `conn` is stored; counts the drop when not. */
  admit(source: Source, conn: ConnectionInfo): boolean {
    const s = this.current;
    // TLS plaintext needs its own source as well as the protocol's (`tls`).
    if (!s.sources.has(source) || (conn.encrypted === true && !s.sources.has('tls'))) {
      this.droppedSource++;
      return false;
    }
    if (s.include.size === 0 && s.exclude.size === 0) return true;
    let verdict = this.verdicts.get(conn);
    if (verdict === undefined) {
      verdict = this.resolve(conn.pid, conn.processStartNs);
      this.verdicts.set(conn, verdict);
    } else {
      this.refresh(verdict, conn.pid, conn.processStartNs);
    }
    if (!verdict.admitted) this.droppedNamespace++;
    return verdict.admitted;
  }

  /**
   * Whether rows of a process are stored by the stats tables (conn_stats,
   * process_stats, proc_exit_events), by its namespace; counts the drop when
   * not. The namespace is cached per pid (one Map hit per row once known).
   */
  admitProcess(pid: number, processStartNs: number): boolean {
    const s = this.current;
    if (s.include.size === 0 && s.exclude.size === 0) return true;
    const startTicks = Math.floor(processStartNs / NS_PER_TICK);
    let verdict = this.processVerdicts.get(pid);
    if (verdict === undefined || verdict.startTicks !== startTicks) {
      if (verdict === undefined && this.processVerdicts.size >= DEFAULTS.maxProcessVerdicts) {
        this.processVerdicts.delete(this.processVerdicts.keys().next().value!);
      }
      verdict = { ...this.resolve(pid, processStartNs), startTicks };
      this.processVerdicts.set(pid, verdict);
    } else {
      this.refresh(verdict, pid, processStartNs);
    }
    if (!verdict.admitted) this.droppedNamespace++;
    return verdict.admitted;
  }

  /**
   * Whether rows of `namespace` ('' outside pods) are stored: network_stats,
   * judged by the namespace of the pod owning a network namespace. Counts
   * the drop when not.
   */
  admitNamespace(namespace: string): boolean {
    if (this.inScope(namespace)) return true;
    this.droppedNamespace++;
    return false;
  }

  /** The one namespace rule of the Collector, under the current settings. */
  private inScope(namespace: string): boolean {
    const s = this.current;
    if (namespace === '') return s.include.size === 0;
    return !s.exclude.has(namespace) && (s.include.size === 0 || s.include.has(namespace));
  }

  private resolve(pid: number, processStartNs: number): Verdict {
    const namespace = this.namespaceOf(pid, processStartNs);
    return {
      namespace,
      recheckAtMs: namespace === '' ? this.nowMs() + DEFAULTS.unresolvedRecheckMs : Infinity,
      generation: this.generation,
      admitted: this.inScope(namespace),
    };
  }

  /** Looks an outside-pods namespace up again once due, and re-decides under new settings. */
  private refresh(verdict: Verdict, pid: number, processStartNs: number): void {
    if (verdict.recheckAtMs !== Infinity && this.nowMs() >= verdict.recheckAtMs) {
      verdict.namespace = this.namespaceOf(pid, processStartNs);
      verdict.recheckAtMs = verdict.namespace === '' ? this.nowMs() + DEFAULTS.unresolvedRecheckMs : Infinity;
      verdict.generation = -1;
    }
    if (verdict.generation !== this.generation) {
      verdict.generation = this.generation;
      verdict.admitted = this.inScope(verdict.namespace);
    }
  }

  /** Counts a record dropped because its source is off (for records judged without a connection). */
  countSourceDisabled(): void {
    this.droppedSource++;
  }

  /**
   * Judges an HTTP exchange (HTTP/1 → source http, HTTP/2 and gRPC → http2)
   * and rewrites it in place for the data access mode. The exchange is the
   * sink's own fresh object (ProtocolSinks), so rewriting it is allowed.
   */
  http(exchange: HttpExchange, conn: ConnectionInfo): boolean {
    if (!this.admit(exchange.majorVersion >= 2 ? 'http2' : 'http', conn)) return false;
    const { dataAccess, maxBodyBytes } = this.current;
    if (dataAccess === DataAccess.Restricted) {
      exchange.reqBody = '';
      exchange.respBody = '';
      exchange.reqHeaders = '{}';
      exchange.respHeaders = '{}';
      exchange.reqPath = stripQuery(exchange.reqPath);
      return true;
    }
    exchange.reqBody = cutUtf8(exchange.reqBody, maxBodyBytes);
    exchange.respBody = cutUtf8(exchange.respBody, maxBodyBytes);
    if (dataAccess === DataAccess.PIIRestricted) {
      this.masked++;
      exchange.reqBody = maskPii(exchange.reqBody);
      exchange.respBody = maskPii(exchange.respBody);
      exchange.reqHeaders = maskHeadersJson(exchange.reqHeaders);
      exchange.respHeaders = maskHeadersJson(exchange.respHeaders);
      exchange.reqPath = maskRequestPath(exchange.reqPath);
    }
    return true;
  }

  pgsql(record: PgsqlRecord, conn: ConnectionInfo): boolean {
    if (!this.admit('pgsql', conn)) return false;
    const { dataAccess, maxBodyBytes } = this.current;
    record.req = cutUtf8(record.req, maxBodyBytes);
    record.resp = cutUtf8(record.resp, maxBodyBytes);
    if (dataAccess === DataAccess.Restricted) {
      record.req = maskSqlLiterals(record.req, PGSQL);
      record.resp = '';
    } else if (dataAccess === DataAccess.PIIRestricted) {
      this.masked++;
      record.req = maskSqlLiterals(record.req, PGSQL);
      record.resp = maskPii(record.resp);
    }
    return true;
  }

  mysql(record: MysqlRecord, conn: ConnectionInfo): boolean {
    if (!this.admit('mysql', conn)) return false;
    const { dataAccess, maxBodyBytes } = this.current;
    record.reqBody = cutUtf8(record.reqBody, maxBodyBytes);
    record.respBody = cutUtf8(record.respBody, maxBodyBytes);
    if (dataAccess === DataAccess.Restricted) {
      record.reqBody = maskSqlLiterals(record.reqBody, MYSQL);
      record.respBody = '';
    } else if (dataAccess === DataAccess.PIIRestricted) {
      this.masked++;
      record.reqBody = maskSqlLiterals(record.reqBody, MYSQL);
      record.respBody = maskPii(record.respBody);
    }
    return true;
  }

  redis(record: RedisRecord, conn: ConnectionInfo): boolean {
    if (!this.admit('redis', conn)) return false;
    const { dataAccess, maxBodyBytes } = this.current;
    if (dataAccess === DataAccess.Restricted) {
      record.reqArgs = '';
      record.resp = '';
      return true;
    }
    record.reqArgs = cutUtf8(record.reqArgs, maxBodyBytes);
    record.resp = cutUtf8(record.resp, maxBodyBytes);
    if (dataAccess === DataAccess.PIIRestricted) {
      this.masked++;
      record.reqArgs = maskPii(record.reqArgs);
      record.resp = maskPii(record.resp);
    }
    return true;
  }

  dns(record: DnsRecord, conn: ConnectionInfo): boolean {
    if (!this.admit('dns', conn)) return false;
    if (this.current.dataAccess === DataAccess.PIIRestricted) {
      this.masked++;
      record.reqBody = maskPii(record.reqBody);
      record.respBody = maskPii(record.respBody);
    }
    return true;
  }

  /** For /metrics (agent counters): records_dropped.<reason>, records_masked. */
  counters(): Record<string, number> {
    return {
      'records_dropped.source_disabled': this.droppedSource,
      'records_dropped.namespace_excluded': this.droppedNamespace,
      records_masked: this.masked,
    };
  }
}

const PGSQL = Object.freeze({ mysql: false });
const MYSQL = Object.freeze({ mysql: true });

/**
 * The longest prefix of `text` whose UTF-8 encoding fits in `maxBytes`
 * (never splitting a surrogate pair). Returns `text` itself when it fits:
 * the parsers already cut at the limit they were created with, so this only
 * works when the limit was lowered on a live connection.
 */
export function cutUtf8(text: string, maxBytes: number): string {
  if (text.length * 3 <= maxBytes) return text;
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    let size = c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) size = 4;
    }
    if (bytes + size > maxBytes) return text.slice(0, i);
    bytes += size;
    if (size === 4) i++;
  }
  return text;
}
