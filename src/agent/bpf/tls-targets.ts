// Which files the TLS uprobes attach to (docs/adr/0020-tls-uprobes.md).
//
// A uprobe is set on a file (an inode), not on a process: attaching to the
// host's libssl.so.3 covers every process that maps it, including processes
// started later. What that misses is found by scanning processes: libssl
// copies inside containers (another file, reached through /proc/PID/root)
// and binaries that link OpenSSL statically (their own SSL_write symbol).
// Each file is attached once per (device, inode); each process is looked at
// once per scan cycle it is new in, at most maxProcessesPerScan per scan.

import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';

/** Library file names of OpenSSL whose SSL_read/SSL_write(_ex) are probed. */
const LIBRARY_NAMES = ['libssl.so.3', 'libssl.so.1.1'];

export const DEFAULTS = Object.freeze({
  /** Where the host's shared libraries live (Debian multiarch first). */
  libraryDirs: Object.freeze([
    '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu',
    '/usr/lib64', '/usr/lib', '/lib64', '/lib',
  ]),
  procRoot: '/proc',
  /** New processes examined per scan; the rest wait for the next scan. */
  maxProcessesPerScan: 256,
  /** Executables larger than this are not searched for a static OpenSSL. */
  maxExecutableBytes: 512 * 1024 * 1024,
  /** Symbol string tables larger than this are not read. */
  maxStringTableBytes: 64 * 1024 * 1024,
});

/** What the scanner did, for /metrics (wisp_tls_*). */
export interface TlsTargetCounters {
  /** Files the probes were attached to. */
  attached: number;
  /** Files that looked like OpenSSL but could not be attached (logged once each). */
  attachFailed: number;
  /** Processes examined by scans. */
  processesScanned: number;
}

export interface TlsTargetsOptions {
  /** Attaches the probes to one file; throws when it cannot (SocketTracer.attachTls). */
  readonly attach: (path: string) => void;
  /** Told of every file attached or failed (once per file). */
  readonly onTarget?: (path: string, error?: unknown) => void;
  readonly libraryDirs?: readonly string[];
  readonly procRoot?: string;
  readonly maxProcessesPerScan?: number;
  readonly maxExecutableBytes?: number;
}

/** The host's OpenSSL libraries, one path per file (symlinked directories collapse). */
export function findTlsLibraries(dirs: readonly string[] = DEFAULTS.libraryDirs): string[] {
  const seen = new Set<string>();
  const found: string[] = [];
  for (const dir of dirs) {
    for (const name of LIBRARY_NAMES) {
      const path = `${dir}/${name}`;
      const key = fileKey(path);
      if (key === undefined || seen.has(key)) continue;
      seen.add(key);
      found.push(path);
    }
  }
  return found;
}

/** "dev:ino" of a file, undefined when it is not a regular file. */
function fileKey(path: string): string | undefined {
  try {
    const st = statSync(path, { bigint: true });
    return st.isFile() ? `${st.dev}:${st.ino}` : undefined;
  } catch {
    return undefined;
  }
}

const ELF_MAGIC = 0x464c457f; // "\x7fELF" little-endian
const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;
const NEEDLE = Buffer.from('\0SSL_write\0');

/**
 * True when the 64-bit little-endian ELF file at `path` has an SSL_write
 * symbol name in the string table of its .symtab or .dynsym: a binary that
 * carries OpenSSL itself. Reads the headers and those string tables only.
 * libbpf resolves the exact symbol at attach time.
 */
export function hasOpenSslSymbols(path: string, maxStringTableBytes: number = DEFAULTS.maxStringTableBytes): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return false;
  }
  try {
    const read = (at: number, length: number): Buffer => {
      const buffer = Buffer.alloc(length);
      const n = readSync(fd, buffer, 0, length, at);
      return n === length ? buffer : Buffer.alloc(0);
    };
    const eh = read(0, 64);
    if (eh.length < 64 || eh.readUInt32LE(0) !== ELF_MAGIC || eh[4] !== 2 || eh[5] !== 1) return false;
    const shoff = Number(eh.readBigUInt64LE(0x28));
    const shentsize = eh.readUInt16LE(0x3a);
    const shnum = eh.readUInt16LE(0x3c);
    if (shoff === 0 || shentsize < 64 || shnum === 0 || shnum > 4096) return false;
    const sections = read(shoff, shentsize * shnum);
    if (sections.length === 0) return false;
    for (let i = 0; i < shnum; i++) {
      const type = sections.readUInt32LE(i * shentsize + 4);
      if (type !== SHT_SYMTAB && type !== SHT_DYNSYM) continue;
      const link = sections.readUInt32LE(i * shentsize + 0x28);
      if (link >= shnum) continue;
      const strOffset = Number(sections.readBigUInt64LE(link * shentsize + 0x18));
      const strSize = Number(sections.readBigUInt64LE(link * shentsize + 0x20));
      if (strSize === 0 || strSize > maxStringTableBytes) continue;
      if (read(strOffset, strSize).includes(NEEDLE)) return true;
    }
    return false;
  } finally {
    closeSync(fd);
  }
}

/**
 * Keeps the TLS probes attached to every OpenSSL the host's processes use.
 * attachHostLibraries() once at start; scan() periodically (e.g. every few
 * seconds) for processes started since.
 */
export class TlsTargets {
  readonly counters: TlsTargetCounters = { attached: 0, attachFailed: 0, processesScanned: 0 };
  private readonly options: TlsTargetsOptions;
  private readonly procRoot: string;
  private readonly maxProcessesPerScan: number;
  private readonly maxExecutableBytes: number;
  /** Files decided on (attached, failed, or not OpenSSL), by dev:ino. */
  private readonly files = new Set<string>();
  /** Processes already examined, by pid; pruned to the live ones each scan. */
  private seenPids = new Set<number>();

  constructor(options: TlsTargetsOptions) {
    this.options = options;
    this.procRoot = options.procRoot ?? DEFAULTS.procRoot;
    this.maxProcessesPerScan = options.maxProcessesPerScan ?? DEFAULTS.maxProcessesPerScan;
    this.maxExecutableBytes = options.maxExecutableBytes ?? DEFAULTS.maxExecutableBytes;
  }

  /** Attaches to the host's libssl files; returns the paths attached. */
  attachHostLibraries(): string[] {
    const attached: string[] = [];
    for (const path of findTlsLibraries(this.options.libraryDirs)) {
      if (this.consider(path, true)) attached.push(path);
    }
    return attached;
  }

  /**
   * Looks at processes not seen before: the libssl files they map (through
   * /proc/PID/root, so container files resolve) and their executable when it
   * carries OpenSSL. Returns how many processes were examined. Never throws.
   */
  scan(): number {
    let pids: number[];
    try {
      pids = readdirSync(this.procRoot).filter((n) => n.charCodeAt(0) >= 48 && n.charCodeAt(0) <= 57).map(Number);
    } catch {
      return 0;
    }
    const live = new Set<number>();
    let examined = 0;
    for (const pid of pids) {
      if (this.seenPids.has(pid)) {
        live.add(pid);
        continue;
      }
      if (examined >= this.maxProcessesPerScan) continue; // next scan
      examined++;
      live.add(pid);
      this.examine(pid);
    }
    this.seenPids = live;
    this.counters.processesScanned += examined;
    return examined;
  }

  private examine(pid: number): void {
    const base = `${this.procRoot}/${pid}`;
    let maps: string;
    try {
      maps = readFileSync(`${base}/maps`, 'utf8');
    } catch {
      return; // exited, or a kernel thread
    }
    for (const line of maps.split('\n')) {
      const at = line.indexOf('/');
      if (at < 0) continue;
      const file = line.slice(at);
      const slash = file.lastIndexOf('/');
      if (!LIBRARY_NAMES.includes(file.slice(slash + 1))) continue;
      this.consider(`${base}/root${file}`, true);
    }
    this.consider(`${base}/exe`, false);
  }

  /** Attaches to `path` unless its file was decided on; `known`: a libssl, no symbol check. */
  private consider(path: string, known: boolean): boolean {
    let key: string;
    let size: number;
    try {
      const st = statSync(path, { bigint: true });
      if (!st.isFile()) return false;
      key = `${st.dev}:${st.ino}`;
      size = Number(st.size);
    } catch {
      return false;
    }
    if (this.files.has(key)) return false;
    this.files.add(key);
    if (!known && (size > this.maxExecutableBytes || !hasOpenSslSymbols(path))) return false;
    try {
      this.options.attach(path);
      this.counters.attached++;
      this.options.onTarget?.(path);
      return true;
    } catch (error) {
      this.counters.attachFailed++;
      this.options.onTarget?.(path, error);
      return false;
    }
  }
}
