/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ring-buffer record layouts of socket_trace.bpf.c: the contract between the
 * kernel programs, the addon (native/addon/wisp_bpf.cc) and the TypeScript
 * decoder (src/agent/bpf/records.ts). The TypeScript twin of every offset is
 * checked against this object's BTF by src/agent/bpf/records.test.ts, so
 * change a layout here and the test tells you what to change there.
 *
 * Rules:
 * - Every record starts with struct wisp_record_header; `size` is the number
 *   of meaningful bytes of the record (header + body + payload).
 * - Fixed parts are multiples of 8 bytes and every field is naturally aligned.
 *   The addon stores records in the drain buffer at 8-byte aligned offsets:
 *   a reader steps from one record to the next by round_up(size, 8).
 * - All integers are little-endian host order (x86-64/arm64); ports are host
 *   order; addresses are network order bytes (IPv4 in addr[0..3]).
 * - Times are CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns).
 *
 * This header is included by BPF C (after vmlinux.h) and by C++ (after
 * <linux/types.h>), so it only uses the __u8/__u16/__u32/__u64 types.
 */
#ifndef WISP_SOCKET_TRACE_H
#define WISP_SOCKET_TRACE_H

/* Record op codes (struct wisp_record_header.op). */
#define WISP_OP_CONN_OPEN 1
#define WISP_OP_DATA 2
#define WISP_OP_CONN_CLOSE 3
/* Reserved for the records being added: process exit, periodic connection stats, UDP datagrams. */
#define WISP_OP_PROC_EXIT 4
#define WISP_OP_CONN_STATS 5
#define WISP_OP_DGRAM 6

/* struct wisp_record_header.flags bits. */
#define WISP_FLAG_TRUNCATED 0x1 /* DATA: captured < length (cap or iovec limit) */
#define WISP_FLAG_NO_PAYLOAD 0x2 /* DATA: payload not readable (sendfile): pure gap */
#define WISP_FLAG_STALE 0x4 /* CONN_CLOSE: fd was reused or the process exited without close() */
#define WISP_FLAG_ADOPTED 0x8 /* CONN_OPEN: first seen on a data syscall, not at accept/connect: role unknown, positions count from here */
/*
 * DATA: plaintext taken from the TLS library (uprobes on SSL_read/SSL_write):
 * `position` counts plaintext bytes, `syscall` is WISP_SYS_SSL_*.
 * CONN_CLOSE: the connection carried TLS plaintext; tls_bytes_* are its
 * plaintext end positions (bytes_* stay the bytes on the wire).
 */
#define WISP_FLAG_TLS 0x10

/* Trace roles (Pixie's trace_role). */
#define WISP_ROLE_UNKNOWN 0
#define WISP_ROLE_CLIENT 1
#define WISP_ROLE_SERVER 2

/* DATA directions, seen from the traced process. */
#define WISP_DIR_EGRESS 0 /* the process wrote the bytes */
#define WISP_DIR_INGRESS 1 /* the process read the bytes */

/* Connection protocol state (struct wisp_conn_close_record.protocol). */
#define WISP_PROTO_UNKNOWN 0 /* no data seen yet */
#define WISP_PROTO_HTTP1 1
#define WISP_PROTO_PGSQL 2
#define WISP_PROTO_MYSQL 3
#define WISP_PROTO_REDIS 4
#define WISP_PROTO_DNS 5
#define WISP_PROTO_HTTP2 6
#define WISP_PROTO_NOT_TRACED 0xffff /* first data matched no protocol: no DATA records */

/* Syscall that produced a DATA record (struct wisp_data_record.syscall). */
#define WISP_SYS_READ 1
#define WISP_SYS_WRITE 2
#define WISP_SYS_READV 3
#define WISP_SYS_WRITEV 4
#define WISP_SYS_RECVFROM 5
#define WISP_SYS_SENDTO 6
#define WISP_SYS_RECVMSG 7
#define WISP_SYS_SENDMSG 8
#define WISP_SYS_SENDFILE 9
/* Datagram-only syscalls (struct wisp_dgram_record.syscall): one record per message. */
#define WISP_SYS_SENDMMSG 10
#define WISP_SYS_RECVMMSG 11
/* TLS library calls (DATA records with WISP_FLAG_TLS): SSL_read/SSL_read_ex, SSL_write/SSL_write_ex. */
#define WISP_SYS_SSL_READ 12
#define WISP_SYS_SSL_WRITE 13

/*
 * Payload bytes one DATA record can carry at most: the size of the per-CPU
 * scratch buffer. rodata max_capture_bytes is clamped to it. Power of two
 * (the verifier bounds are masks).
 */
#define WISP_MAX_CAPTURE_BYTES 32768
/*
 * iovecs copied from readv/writev/recvmsg/sendmsg (UIO_MAXIOV, the kernel's
 * own limit, copied with bpf_loop); later ones become a gap. HTTP/2 stacks
 * write many frames per writev (nghttp2 in Node: two iovecs per frame), and a
 * gap there costs the whole connection (HPACK state).
 */
#define WISP_MAX_IOVECS 1024
/*
 * Payload bytes one DGRAM record carries at most (a per-CPU scratch of twice
 * this; power of two). DNS over UDP stays below it (EDNS buffers are 1232 to
 * 4096 bytes); a longer datagram is cut (WISP_FLAG_TRUNCATED).
 */
#define WISP_MAX_DGRAM_BYTES 8192
/* Messages of one sendmmsg/recvmmsg reported; later ones are counted (WISP_STAT_MMSG_TRUNCATED). */
#define WISP_MAX_MMSG 8

/* Indexes of the per-CPU `stats` array: kernel-side drops and notable events. */
#define WISP_STAT_RINGBUF_FULL 0 /* a record could not be written: lost */
#define WISP_STAT_CAPTURE_TRUNCATED 1 /* DATA payload cut to max_capture_bytes */
#define WISP_STAT_IOVEC_TRUNCATED 2 /* more than WISP_MAX_IOVECS iovecs: rest is a gap */
#define WISP_STAT_CONN_MAP_FULL 3 /* a connection could not be tracked: never traced */
#define WISP_STAT_ARGS_STASH_FAILED 4 /* syscall args could not be stashed: bytes lost */
#define WISP_STAT_READ_USER_FAILED 5 /* payload/iovec not readable: sent as a gap */
#define WISP_STAT_SOCKET_READ_FAILED 6 /* fd -> struct sock walk failed on open */
#define WISP_STAT_STALE_CONN 7 /* fd reused / process exited without close() seen */
#define WISP_STAT_CONN_NOT_TRACED 8 /* connections whose first data matched no protocol */
#define WISP_STAT_MMSG_TRUNCATED 9 /* datagrams past WISP_MAX_MMSG in one sendmmsg/recvmmsg: not seen */
#define WISP_STAT_CONN_ADOPTED 10 /* TCP connections first seen on a data syscall (forked child, opened before attach) */
#define WISP_STAT_TLS_FD_UNKNOWN 11 /* TLS plaintext whose socket fd was never seen under that SSL object: dropped */
#define WISP_STAT_COUNT 12

/* 24 bytes. */
struct wisp_record_header {
	__u16 op; /* WISP_OP_* */
	__u16 flags; /* WISP_FLAG_* */
	__u32 size; /* header + body + payload bytes */
	__u32 tgid; /* process id of the traced process */
	__u32 fd; /* socket file descriptor in that process */
	__u64 timestamp_ns; /* bpf_ktime_get_ns() at the syscall exit */
};

/* WISP_OP_CONN_OPEN, 88 bytes: accept/accept4 (server) or connect (client) succeeded. */
struct wisp_conn_open_record {
	struct wisp_record_header header;
	__u64 conn_id; /* per-boot unique, never reused */
	__u64 process_start_ns; /* task->group_leader->start_time (monotonic ns) */
	__u16 role; /* WISP_ROLE_* */
	__u16 family; /* AF_INET (2) or AF_INET6 (10): the socket's family */
	__u16 local_port;
	__u16 remote_port;
	__u8 local_addr[16];
	__u8 remote_addr[16];
	/*
	 * cgroup v2 id of the process (the inode of its cgroup directory): names
	 * the pod and container even after a short-lived process has exited.
	 */
	__u64 cgroup_id;
};

/*
 * WISP_OP_DATA, 56 bytes + payload[captured]: one data syscall on a traced
 * connection. `position` is the stream offset (per direction) of the first
 * byte moved; `length` the bytes moved (the syscall's return value);
 * `captured <= length` the payload bytes that follow this struct.
 */
struct wisp_data_record {
	struct wisp_record_header header;
	__u64 conn_id;
	__u64 position;
	__u32 length;
	__u32 captured;
	__u16 direction; /* WISP_DIR_* */
	__u16 syscall; /* WISP_SYS_* */
	__u32 reserved;
	/* __u8 payload[captured] follows */
};

/*
 * WISP_OP_CONN_CLOSE, 72 bytes: close() on a tracked fd (or a stale entry).
 * bytes_* count what went through the socket; with WISP_FLAG_TLS, tls_bytes_*
 * are the end positions of the plaintext DATA records (0 otherwise).
 */
struct wisp_conn_close_record {
	struct wisp_record_header header;
	__u64 conn_id;
	__u64 bytes_sent;
	__u64 bytes_received;
	__u16 role; /* WISP_ROLE_* */
	__u16 protocol; /* WISP_PROTO_* */
	__u32 reserved;
	__u64 tls_bytes_sent;
	__u64 tls_bytes_received;
};

/*
 * WISP_OP_PROC_EXIT, 56 bytes: the last thread of process `header.tgid`
 * exited (sched_process_exit with signal->live == 0); header.fd is 0.
 * Emitted after the CONN_CLOSE records of the connections it left open.
 */
struct wisp_proc_exit_record {
	struct wisp_record_header header;
	__u64 process_start_ns; /* task->group_leader->start_time (monotonic ns), part of upid */
	/* task->exit_code as wait(2) reports it: (exit status << 8) | terminating signal (0x80: core) */
	__u32 exit_code;
	__u32 reserved;
	char comm[16]; /* the group leader's comm, NUL-padded */
};

/*
 * WISP_OP_DGRAM, 96 bytes + payload[captured]: one UDP datagram of a traced
 * protocol (DNS), sent or received by any process: UDP has no accept/connect
 * to start tracking from, so every datagram carries its addresses. Local
 * address/port are the socket's (the address may be the wildcard); remote
 * ones the datagram's peer (sendto/recvfrom sockaddr, msghdr.msg_name, or the
 * connected peer). `length` is the datagram size, `captured <= length` the
 * payload bytes that follow this struct.
 */
struct wisp_dgram_record {
	struct wisp_record_header header;
	__u64 process_start_ns; /* task->group_leader->start_time (monotonic ns), part of upid */
	__u64 cgroup_id;
	__u32 length;
	__u32 captured;
	__u16 direction; /* WISP_DIR_* */
	__u16 syscall; /* WISP_SYS_* */
	__u16 protocol; /* WISP_PROTO_* */
	__u16 family; /* AF_INET (2) or AF_INET6 (10): the socket's family */
	__u16 local_port;
	__u16 remote_port;
	__u32 reserved;
	__u8 local_addr[16];
	__u8 remote_addr[16];
	/* __u8 payload[captured] follows */
};

#endif /* WISP_SOCKET_TRACE_H */
