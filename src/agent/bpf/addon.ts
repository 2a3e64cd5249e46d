// The only module that loads the native addon (native/addon/wisp_bpf.cc).
// The interfaces below are the contract of that addon; change both together.

import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** Settings fixed at open (they become eBPF read-only data or map sizes). */
export interface NativeOpenOptions {
  /** tgid the kernel programs ignore (the agent itself). */
  readonly selfPid: number;
  /** DATA payload cap per syscall, 0..maxCaptureBytesLimit. */
  readonly maxCaptureBytes: number;
  /** Ring buffer size: a power of two, at least one page. */
  readonly ringBufferBytes: number;
  /** Capacity of the kernel connection table. */
  readonly maxConnections: number;
  /** 0 = full capture; 1 = bare probes (attached, return at once: the mechanism's floor). */
  readonly mode: 0 | 1;
}

/** Opaque handle returned by open(); only the addon can make one. */
export interface NativeHandle {
  readonly __wispBpfHandle: never;
}

/** Kernel drop/event counters (summed over CPUs) plus the addon's own. */
export interface NativeCounters {
  readonly ringbufFull: number;
  readonly captureTruncated: number;
  readonly iovecTruncated: number;
  readonly connMapFull: number;
  readonly argsStashFailed: number;
  readonly readUserFailed: number;
  readonly socketReadFailed: number;
  readonly staleConnections: number;
  readonly connNotTraced: number;
  /** Datagrams past WISP_MAX_MMSG in one sendmmsg/recvmmsg (not reported). */
  readonly mmsgTruncated: number;
  /** TCP connections first seen on a data syscall: a forked child's (postgres backends), or opened before the agent attached. */
  readonly connAdopted: number;
  /** TLS plaintext dropped: no socket fd was ever seen under its SSL object (or the connection is untracked). */
  readonly tlsFdUnknown: number;
  /** Files (libssl, statically linked binaries) the TLS uprobes are attached to. */
  readonly tlsTargets: number;
  readonly recordsDrained: number;
  readonly bytesDrained: number;
  readonly recordsSpilled: number;
  readonly oversizedDropped: number;
  readonly consumeErrors: number;
  /** connStats() calls that ran out of buffer before the end of the table. */
  readonly connStatsTruncated: number;
  /** connStats() batch lookups that failed (other than reaching the end). */
  readonly connStatsErrors: number;
}

export interface WispBpfAddon {
  /** Loads and attaches the programs. Throws an Error naming what failed
   * (e.g. "attach tracepoint syscalls/sys_enter_connect: Operation not permitted"),
   * with the libbpf log tail in `libbpfLog` when there is one. */
  open(options: NativeOpenOptions): NativeHandle;
  /** Copies whole records into `buffer` (8-byte aligned, see records.ts) and
   * returns the bytes written. Never loses a record: one that does not fit is
   * kept and delivered first next time. Does not throw on the hot path. */
  drain(handle: NativeHandle, buffer: Uint8Array): number;
  counters(handle: NativeHandle): NativeCounters;
  /** Copies the kernel connection table's values (struct conn_info, see
   * LAYOUTS.conn_info in records.ts) into `buffer`, packed; returns how many. */
  connStats(handle: NativeHandle, buffer: Uint8Array): number;
  /** Attaches the TLS uprobes (SSL_read/SSL_write and the _ex variants) to
   * the ELF file at `path`, for every process mapping it now or later; returns
   * the probes attached. Throws naming the function and file (e.g. "attach
   * uprobe SSL_read_ex in /x: No such file or directory"), attaching nothing. */
  attachTls(handle: NativeHandle, path: string): number;
  /** Lists (tgid, fd) pairs, flat, as TCP connections to adopt on their next
   * read or write (open before the agent started); returns how many were written. */
  watchFds(handle: NativeHandle, pairs: Uint32Array): number;
  /** Detaches every TLS uprobe attachTls set; returns how many. */
  detachTls(handle: NativeHandle): number;
  /** Detaches and frees; safe to call more than once. */
  close(handle: NativeHandle): void;
  /** Largest maxCaptureBytes the kernel scratch buffer allows. */
  readonly maxCaptureBytesLimit: number;
}

/** Absolute path of the built addon. src/agent/bpf and dist/agent/bpf are both three levels below the package root. */
export const ADDON_PATH = fileURLToPath(
  new URL('../../../native/build/Release/wisp_bpf.node', import.meta.url),
);

let loaded: WispBpfAddon | undefined;

/** Loads the addon once. Throws when it is not built or cannot be loaded. */
export function loadAddon(): WispBpfAddon {
  if (loaded === undefined) {
    const require = createRequire(import.meta.url);
    try {
      loaded = require(ADDON_PATH) as WispBpfAddon;
    } catch (cause) {
      throw new Error(`load native addon ${ADDON_PATH} (build it with \`make build\`)`, { cause });
    }
  }
  return loaded;
}
