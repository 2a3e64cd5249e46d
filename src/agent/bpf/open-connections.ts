// TCP connections that were already open when the agent started.
//
// The kernel programs see a connection at accept()/connect(), or adopt an
// untracked one on its first recv/send (a socket-only syscall). A connection
// opened before the agent attached and used only with read/write (Node.js's
// libuv, Go's runtime, most event loops) would stay invisible: looking up the
// socket behind every read() on the host would tax all file I/O. Instead,
// user space lists such connections once at start, from /proc: each
// process's socket fds whose inode is an ESTABLISHED entry of the
// /proc/PID/net/tcp{,6} table of that process's network namespace. The
// kernel side then adopts them on their next read or write
// (SocketTracer.watchFds, socket_fds in socket_trace.bpf.c).
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export const DEFAULTS = Object.freeze({
  procRoot: '/proc',
  /** socket_fds holds 32768 entries (shared with connected UDP sockets). */
  maxConnections: 16_384,
  /** Descriptors looked at, at most: a bound on the scan's time on a huge host. */
  maxFds: 500_000,
});

/** TCP state ESTABLISHED in /proc/net/tcp's `st` column (hex). */
const ESTABLISHED = '01';

export interface OpenConnections {
  /** (tgid, fd) pairs, flat: what SocketTracer.watchFds takes. */
  readonly pairs: Uint32Array;
  /** Connections found past maxConnections, or fds not looked at past maxFds. */
  readonly truncated: number;
}

/** Inodes of the ESTABLISHED sockets of one /proc/PID/net/tcp or tcp6 table. */
export function establishedInodes(table: string, into: Set<string>): void {
  // "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"
  const lines = table.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const fields = lines[i]!.trim().split(/\s+/);
    if (fields.length > 9 && fields[3] === ESTABLISHED && fields[9] !== '0') into.add(fields[9]!);
  }
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

/**
 * Scans /proc once. Processes that exit meanwhile, and files it may not
 * read, are skipped: the scan never throws.
 */
export function findOpenConnections(options: { selfPid: number; procRoot?: string; maxConnections?: number; maxFds?: number }): OpenConnections {
  const proc = options.procRoot ?? DEFAULTS.procRoot;
  const maxConnections = options.maxConnections ?? DEFAULTS.maxConnections;
  let fdBudget = options.maxFds ?? DEFAULTS.maxFds;
  const byNetns = new Map<string, Set<string>>();
  const found: number[] = [];
  let truncated = 0;
  let pids: string[];
  try {
    pids = readdirSync(proc).filter((n) => n.charCodeAt(0) >= 48 && n.charCodeAt(0) <= 57);
  } catch {
    return { pairs: new Uint32Array(0), truncated: 0 };
  }
  for (const pid of pids) {
    if (Number(pid) === options.selfPid) continue;
    let fds: string[];
    let netns: string;
    try {
      fds = readdirSync(`${proc}/${pid}/fd`);
      netns = readlinkSync(`${proc}/${pid}/ns/net`);
    } catch {
      continue; // exited, or a kernel thread
    }
    if (fdBudget <= 0) {
      truncated += fds.length;
      continue;
    }
    let established = byNetns.get(netns);
    if (established === undefined) {
      established = new Set();
      establishedInodes(readOr(`${proc}/${pid}/net/tcp`, ''), established);
      establishedInodes(readOr(`${proc}/${pid}/net/tcp6`, ''), established);
      byNetns.set(netns, established);
    }
    if (established.size === 0) continue;
    for (const fd of fds) {
      if (--fdBudget < 0) {
        truncated++;
        continue;
      }
      let target: string;
      try {
        target = readlinkSync(`${proc}/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      // "socket:[12345]"
      if (!target.startsWith('socket:[') || !established.has(target.slice(8, -1))) continue;
      if (found.length / 2 >= maxConnections) {
        truncated++;
        continue;
      }
      found.push(Number(pid), Number(fd));
    }
  }
  return { pairs: Uint32Array.from(found), truncated };
}
