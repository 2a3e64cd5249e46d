import { existsSync, readFileSync } from 'node:fs';

/** Linux capability numbers (include/uapi/linux/capability.h). */
const CAP = Object.freeze({ SYS_ADMIN: 21, PERFMON: 38, BPF: 39 });

/**
 * What the agent lacks to load and attach its eBPF programs, or [] when it
 * has everything. CAP_BPF loads programs and maps; CAP_PERFMON attaches
 * tracepoints (perf_event_open) and lets programs read kernel memory
 * (socket addresses). CAP_SYS_ADMIN implies both on this kernel.
 */
export function missingPrivileges(statusText = readFileSync('/proc/self/status', 'utf8')): string[] {
  const match = /^CapEff:\s*([0-9a-f]+)$/m.exec(statusText);
  const effective = match ? BigInt(`0x${match[1]}`) : 0n;
  const has = (cap: number): boolean => ((effective >> BigInt(cap)) & 1n) === 1n;
  const missing: string[] = [];
  if (!has(CAP.SYS_ADMIN)) {
    if (!has(CAP.BPF)) missing.push('CAP_BPF');
    if (!has(CAP.PERFMON)) missing.push('CAP_PERFMON');
  }
  if (!existsSync('/sys/kernel/tracing/events/syscalls') && !existsSync('/sys/kernel/debug/tracing/events/syscalls')) {
    missing.push('tracefs (mount -t tracefs tracefs /sys/kernel/tracing)');
  }
  if (!existsSync('/sys/kernel/btf/vmlinux')) missing.push('kernel BTF (/sys/kernel/btf/vmlinux)');
  return missing;
}
