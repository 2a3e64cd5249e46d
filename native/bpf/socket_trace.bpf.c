// SPDX-License-Identifier: GPL-2.0
/*
 * Socket data capture for inet TCP connections, on syscall tracepoints only
 * (this kernel family has no kprobes/fentry to rely on; tracepoints are also
 * the stable interface).
 *
 * Flow:
 *   accept/accept4/connect exit -> walk fd -> struct sock, keep conn_info in
 *   `conns` keyed by (tgid << 32 | fd), emit CONN_OPEN.
 *   data syscall enter -> if the fd is tracked, stash its args per thread;
 *   data syscall exit  -> account bytes (stream positions), infer the protocol
 *   on the first data, emit DATA (payload copied up to max_capture_bytes) for
 *   traced protocols only.
 *   close enter / process exit -> emit CONN_CLOSE and forget the fd.
 *
 *   A socket-only data syscall (the recv and send family) on an untracked TCP fd
 *   adopts it: CONN_OPEN with role unknown and WISP_FLAG_ADOPTED, positions
 *   counted from there. That covers fds inherited over fork() (postgres
 *   backends) or SCM_RIGHTS, and connections opened before attach.
 *
 * Caveats (by design, documented for the tracker):
 * - An untracked fd used only with read/write/readv/writev is adopted only
 *   when user space listed it in socket_fds (TCP connections open when the
 *   agent started); looking up the socket of every file read would tax the
 *   whole host. Inherited later over fork and used with read/write only, a
 *   connection stays invisible.
 * - An adopted connection whose first seen bytes are mid-message matches no
 *   protocol and stays untraced (counted as connNotTraced).
 * - close_range(), dup2() over a tracked fd, io_uring I/O are not hooked; a
 *   reused fd is detected on the next accept/connect and reported as a
 *   CONN_CLOSE with WISP_FLAG_STALE.
 * - sendfile64 moves bytes we cannot read: it becomes a DATA record with
 *   WISP_FLAG_NO_PAYLOAD so positions stay exact.
 *
 * TLS (docs/adr/0020-tls-uprobes.md): uprobes on SSL_read/SSL_write (and the
 * _ex variants) mark the calling thread as "inside a TLS call"; a data
 * syscall on a tracked connection made by that thread meanwhile names the
 * connection's fd, marks the connection TLS and is not emitted (ciphertext).
 * The uretprobe emits the plaintext as DATA with WISP_FLAG_TLS at plaintext
 * positions of its own, and infers the protocol from the first plaintext.
 *
 * Record layouts: socket_trace.h. Output never wakes the reader
 * (BPF_RB_NO_WAKEUP): user space drains on a timer, because wake-ups dominate
 * the cost per event.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include "socket_trace.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define IPPROTO_TCP 6
#define SOCK_DGRAM 2
#define IPPROTO_UDP 17
#define EINPROGRESS 115

#define MODE_FULL 0
#define MODE_BARE 1

/* Settings, fixed before load (read-only data; the verifier folds them). */
const volatile __u32 self_pid = 0; /* tgid of the agent: never traced */
const volatile __u32 max_capture_bytes = 16384; /* <= WISP_MAX_CAPTURE_BYTES */
const volatile __u32 mode = MODE_FULL; /* MODE_BARE: attach, do nothing */

/* Per tracked connection. Byte counters are updated atomically: they are the
 * stream positions of the next byte in each direction. User space also reads
 * these values (the addon's connStats batch lookup, for conn_stats): the
 * layout is checked against LAYOUTS.conn_info by src/agent/bpf/records.test.ts. */
struct conn_info {
	__u64 conn_id;
	__u64 bytes_sent;
	__u64 bytes_received;
	__u16 role;
	__u16 protocol;
	__u32 flags; /* CONN_F_* */
	__u64 tls_bytes_sent; /* plaintext positions (TLS DATA records) */
	__u64 tls_bytes_received;
};

/* conn_info.flags. */
#define CONN_F_TLS 0x1 /* a data syscall ran inside SSL_read/SSL_write: never emit the socket's bytes */
#define CONN_F_TLS_INFERRED 0x2 /* the protocol was decided on the plaintext */

/* Syscall arguments stashed between enter and exit, per thread. */
struct syscall_args {
	__u64 buf; /* buffer, iovec array or user_msghdr, by `syscall` */
	__u64 iovcnt; /* readv/writev, sendmmsg/recvmmsg: count; sendto/recvfrom: struct sockaddr * */
	__u32 fd;
	__u16 syscall; /* WISP_SYS_*, or SYS_CONNECT */
	__u16 pending; /* PENDING_* at enter, cleared at exit */
};

/* syscall_args.pending: a tracked TCP connection's data, or a possible UDP datagram. */
#define PENDING_STREAM 1
#define PENDING_DGRAM 2
/* exit_dgram(): the socket was TCP and is now tracked: continue on the stream path. */
#define EXIT_DGRAM_ADOPTED 1

/* connect(2) stashes its fd too; not a data syscall, so not in socket_trace.h. */
#define SYS_CONNECT 0x100

/* DATA record under construction: header + payload. The payload area is
 * twice the cap so that "offset < cap, chunk <= cap" is provably in bounds. */
struct data_scratch {
	struct wisp_data_record record;
	__u8 payload[2 * WISP_MAX_CAPTURE_BYTES];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024); /* set by the addon before load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536); /* set by the addon before load */
	__type(key, __u64); /* tgid << 32 | fd */
	__type(value, struct conn_info);
} conns SEC(".maps");

/*
 * Task-local storage rather than a hash keyed by thread id: no hashing or
 * bucket lock on every syscall, and the kernel frees it with the thread (a
 * thread killed inside a syscall never reaches the exit tracepoint).
 */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct syscall_args);
} args SEC(".maps");

/* The calling thread's stash; created on first use. NULL if busy/no memory. */
static __always_inline struct syscall_args *thread_args(__u64 create)
{
	return bpf_task_storage_get(&args, bpf_get_current_task_btf(), 0,
				    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

/* Not per-CPU: per-CPU values are limited to 32 KiB. Indexed by CPU; the
 * addon sets max_entries to the number of possible CPUs. Syscall tracepoint
 * programs run with preemption disabled, so one slot per CPU is exclusive. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct data_scratch);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} next_conn_id SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, WISP_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/*
 * Untracked socket fds (tgid << 32 | fd) whose read/write/readv/writev are
 * worth a look (the datagram path, exit_dgram): connected UDP sockets, noted
 * at connect(), whose reads and writes may carry datagrams; and TCP
 * connections user space found open when the agent started (SOCKET_FD_TCP,
 * the addon's watchFds), adopted on their first read or write like a
 * recv/send on an untracked socket is. LRU: an fd closed in a way we do not
 * hook ages out instead of leaking.
 */
#define SOCKET_FD_UDP 1
#define SOCKET_FD_TCP 2
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, __u64);
	__type(value, __u8);
} socket_fds SEC(".maps");

/* DGRAM record under construction; twice the cap for the same reason as data_scratch. */
struct dgram_scratch {
	struct wisp_dgram_record record;
	__u8 payload[2 * WISP_MAX_DGRAM_BYTES];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dgram_scratch);
} dgram_scratch SEC(".maps");

static __always_inline void stat_inc(__u32 index)
{
	__u64 *value = bpf_map_lookup_elem(&stats, &index);
	if (value)
		*value += 1;
}

static __always_inline __u64 conn_key(__u32 tgid, __u32 fd)
{
	return ((__u64)tgid << 32) | fd;
}

/*
 * Record fillers are real subprograms (noinline) on purpose: their prototypes
 * put the record structs into the object's BTF, which records.test.ts reads.
 */
static __noinline void fill_close_record(struct wisp_conn_close_record *r, __u32 tgid, __u32 fd,
					 const struct conn_info *conn, __u16 flags)
{
	r->header.op = WISP_OP_CONN_CLOSE;
	r->header.flags = flags;
	r->header.size = sizeof(*r);
	r->header.tgid = tgid;
	r->header.fd = fd;
	r->header.timestamp_ns = bpf_ktime_get_ns();
	r->conn_id = conn->conn_id;
	r->bytes_sent = conn->bytes_sent;
	r->bytes_received = conn->bytes_received;
	r->role = conn->role;
	r->protocol = conn->protocol;
	r->reserved = 0;
	r->tls_bytes_sent = conn->tls_bytes_sent;
	r->tls_bytes_received = conn->tls_bytes_received;
	if (conn->flags & CONN_F_TLS)
		r->header.flags |= WISP_FLAG_TLS;
}

static __always_inline void emit_close(__u32 tgid, __u32 fd, const struct conn_info *conn,
				       __u16 flags)
{
	struct wisp_conn_close_record *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		stat_inc(WISP_STAT_RINGBUF_FULL);
		return;
	}
	fill_close_record(r, tgid, fd, conn, flags);
	bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
}

/* Resolve fd -> struct sock of the current task. NULL when not readable. */
static __always_inline struct sock *fd_to_sock(__u32 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt)
		return NULL;
	if (fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *file = NULL;
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return NULL;
	/* After accept/connect or a socket syscall on this fd, private_data is a socket. */
	struct socket *sock = BPF_CORE_READ(file, private_data);
	/* A socket's file points back at it: guards the datagram path against a reused fd. */
	if (!sock || BPF_CORE_READ(sock, file) != file)
		return NULL;
	return BPF_CORE_READ(sock, sk);
}

/* Fills all but header.tgid, header.fd, conn_id and role. */
static __noinline void fill_open_record(struct wisp_conn_open_record *r, struct sock *sk,
					__u16 family)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	r->header.op = WISP_OP_CONN_OPEN;
	r->header.flags = 0;
	r->header.size = sizeof(*r);
	r->header.timestamp_ns = bpf_ktime_get_ns();
	r->process_start_ns = BPF_CORE_READ(task, group_leader, start_time);
	r->cgroup_id = bpf_get_current_cgroup_id();
	r->family = family;
	r->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	r->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	__builtin_memset(r->local_addr, 0, sizeof(r->local_addr));
	__builtin_memset(r->remote_addr, 0, sizeof(r->remote_addr));
	if (family == AF_INET) {
		bpf_core_read(r->local_addr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(r->remote_addr, 4, &sk->__sk_common.skc_daddr);
	} else {
		bpf_core_read(r->local_addr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(r->remote_addr, 16, &sk->__sk_common.skc_v6_daddr);
	}
}

static __noinline int track_conn(__u32 tgid, __u32 fd, struct sock *sk, __u16 family, __u16 role);

/* accept/accept4/connect exit on `fd`: track the connection if it is inet TCP. */
static __always_inline void open_conn(__u32 fd, __u16 role)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (tgid == self_pid)
		return;

	struct sock *sk = fd_to_sock(fd);
	if (!sk) {
		stat_inc(WISP_STAT_SOCKET_READ_FAILED);
		return;
	}
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return;
	__u16 type = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_type);
	__u16 protocol = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
	if (type == SOCK_DGRAM && protocol == IPPROTO_UDP && role == WISP_ROLE_CLIENT) {
		/* connect() on UDP: later read/write on the fd may be datagrams. */
		__u64 udp_key = conn_key(tgid, fd);
		__u8 kind = SOCKET_FD_UDP;
		bpf_map_update_elem(&socket_fds, &udp_key, &kind, BPF_ANY);
		return;
	}
	if (type != SOCK_STREAM || protocol != IPPROTO_TCP)
		return;

	__u64 key = conn_key(tgid, fd);
	struct conn_info *stale = bpf_map_lookup_elem(&conns, &key);
	if (stale) {
		/* The fd was closed in a way we do not hook: report the old one. */
		stat_inc(WISP_STAT_STALE_CONN);
		emit_close(tgid, fd, stale, WISP_FLAG_STALE);
	}
	track_conn(tgid, fd, sk, family, role);
}

/*
 * Starts tracking inet TCP socket `fd` of `tgid`: a conn_info entry and a
 * CONN_OPEN record. Role WISP_ROLE_UNKNOWN marks a connection adopted on a
 * data syscall (header flag WISP_FLAG_ADOPTED). 0 when tracked.
 */
static __noinline int track_conn(__u32 tgid, __u32 fd, struct sock *sk, __u16 family, __u16 role)
{
	__u64 key = conn_key(tgid, fd);

	__u32 zero = 0;
	__u64 *counter = bpf_map_lookup_elem(&next_conn_id, &zero);
	if (!counter)
		return -1;
	struct conn_info info = {
		.conn_id = __sync_fetch_and_add(counter, 1) + 1,
		.role = role,
		.protocol = WISP_PROTO_UNKNOWN,
	};
	if (bpf_map_update_elem(&conns, &key, &info, BPF_ANY)) {
		stat_inc(WISP_STAT_CONN_MAP_FULL);
		return -1;
	}

	struct wisp_conn_open_record *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		/* The tracker would see data of an unknown connection: forget it. */
		stat_inc(WISP_STAT_RINGBUF_FULL);
		bpf_map_delete_elem(&conns, &key);
		return -1;
	}
	r->header.tgid = tgid;
	r->header.fd = fd;
	r->conn_id = info.conn_id;
	r->role = role;
	fill_open_record(r, sk, family);
	if (role == WISP_ROLE_UNKNOWN)
		r->header.flags = WISP_FLAG_ADOPTED;
	bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
	return 0;
}

/*
 * Protocol inference on the first bytes of a connection (either direction).
 * One place for all protocols: add a new one here and a WISP_PROTO_* value.
 * `n` is how many of the 8 bytes are valid; `direction` (WISP_DIR_*) and
 * `role` (WISP_ROLE_*) tell which side wrote them.
 */
/*
 * A global (non-static, noinline) function: the verifier checks it once on
 * its own instead of once per path of every data exit that calls it, which
 * keeps exit_read & co. far below the verifier's instruction limit as cases
 * are added. The first bytes come as one __u64 (little-endian: b[0] is the
 * lowest byte), since a global function cannot take a stack pointer.
 */
__noinline __u16 infer_protocol(__u64 first8, __u32 n, __u16 direction, __u16 role)
{
	__u8 b[8];
	__builtin_memcpy(b, &first8, sizeof(b));
	/* HTTP/2 client connection preface "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" (h2c with prior knowledge). */
	if (n >= 8 && b[0] == 'P' && b[1] == 'R' && b[2] == 'I' && b[3] == ' ' && b[4] == '*' &&
	    b[5] == ' ' && b[6] == 'H' && b[7] == 'T')
		return WISP_PROTO_HTTP2;
	/*
	 * HTTP/2 servers may write their SETTINGS before reading the preface: a
	 * non-ACK SETTINGS frame on stream 0 (length a multiple of 6, under 256)
	 * as the first bytes an accepted connection writes.
	 */
	if (n >= 8 && direction == WISP_DIR_EGRESS && role == WISP_ROLE_SERVER && b[0] == 0 &&
	    b[1] == 0 && b[2] % 6 == 0 && b[3] == 4 && b[4] == 0 && b[5] == 0 && b[6] == 0 &&
	    b[7] == 0)
		return WISP_PROTO_HTTP2;
	/* HTTP/1.x request line: METHOD SP; or a status line "HTTP/1." */
	if (n >= 4 && b[0] == 'G' && b[1] == 'E' && b[2] == 'T' && b[3] == ' ')
		return WISP_PROTO_HTTP1;
	if (n >= 4 && b[0] == 'P' && b[1] == 'U' && b[2] == 'T' && b[3] == ' ')
		return WISP_PROTO_HTTP1;
	if (n >= 5 && b[0] == 'P' && b[1] == 'O' && b[2] == 'S' && b[3] == 'T' && b[4] == ' ')
		return WISP_PROTO_HTTP1;
	if (n >= 5 && b[0] == 'H' && b[1] == 'E' && b[2] == 'A' && b[3] == 'D' && b[4] == ' ')
		return WISP_PROTO_HTTP1;
	if (n >= 6 && b[0] == 'P' && b[1] == 'A' && b[2] == 'T' && b[3] == 'C' && b[4] == 'H' &&
	    b[5] == ' ')
		return WISP_PROTO_HTTP1;
	if (n >= 6 && b[0] == 'T' && b[1] == 'R' && b[2] == 'A' && b[3] == 'C' && b[4] == 'E' &&
	    b[5] == ' ')
		return WISP_PROTO_HTTP1;
	if (n >= 7 && b[0] == 'D' && b[1] == 'E' && b[2] == 'L' && b[3] == 'E' && b[4] == 'T' &&
	    b[5] == 'E' && b[6] == ' ')
		return WISP_PROTO_HTTP1;
	if (n >= 7 && b[0] == 'H' && b[1] == 'T' && b[2] == 'T' && b[3] == 'P' && b[4] == '/' &&
	    b[5] == '1' && b[6] == '.')
		return WISP_PROTO_HTTP1;
	if (n >= 8 && b[0] == 'O' && b[1] == 'P' && b[2] == 'T' && b[3] == 'I' && b[4] == 'O' &&
	    b[5] == 'N' && b[6] == 'S' && b[7] == ' ')
		return WISP_PROTO_HTTP1;
	if (n >= 8 && b[0] == 'C' && b[1] == 'O' && b[2] == 'N' && b[3] == 'N' && b[4] == 'E' &&
	    b[5] == 'C' && b[6] == 'T' && b[7] == ' ')
		return WISP_PROTO_HTTP1;
	/*
	 * PostgreSQL client's first message (twin: inferPgsql in
	 * src/agent/protocols/pgsql/pgsql-session.ts): big-endian length under
	 * 64 KiB, then protocol 3.0, or length 8 and SSLRequest (80877103) or
	 * GSSENCRequest (80877104).
	 */
	if (n >= 8 && b[0] == 0 && b[1] == 0 && b[4] == 0 && b[5] == 3 && b[6] == 0 && b[7] == 0)
		return WISP_PROTO_PGSQL;
	if (n >= 8 && b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 8 && b[4] == 0x04 &&
	    b[5] == 0xd2 && b[6] == 0x16 && (b[7] == 0x2f || b[7] == 0x30))
		return WISP_PROTO_PGSQL;
	/*
	 * MySQL/MariaDB (twin: inferMysql in src/agent/protocols/mysql/mysql-session.ts):
	 * the server greeting (3-byte length under 64 KiB, sequence 0, protocol 10,
	 * version digit), seen first on both sides; or a client COM_QUERY packet
	 * (sequence 0, command 3, printable text).
	 */
	if (n >= 6 && b[2] == 0 && b[3] == 0 && b[4] == 10 && b[5] >= '0' && b[5] <= '9')
		return WISP_PROTO_MYSQL;
	if (n >= 8 && b[3] == 0 && b[4] == 3) {
		/* Printable ASCII or tab/LF/CR (twin: printable() in mysql-session.ts). */
		__u32 text = 0;
		for (__u32 i = 5; i < 8; i++)
			text += (b[i] >= 0x20 && b[i] < 0x7f) || b[i] == '\t' || b[i] == '\n' ||
				b[i] == '\r';
		if (text == 3)
			return WISP_PROTO_MYSQL;
	}
	/*
	 * Redis client command (twin: inferRedis in
	 * src/agent/protocols/redis/redis-session.ts): an array of bulk strings,
	 * "*<1-4 digits>\r\n$". Servers never speak first.
	 */
	if (n >= 5 && b[0] == '*' && b[1] >= '0' && b[1] <= '9') {
		__u32 i = 2;
		if (b[2] >= '0' && b[2] <= '9')
			i = 3;
		if (i == 3 && n >= 6 && b[3] >= '0' && b[3] <= '9')
			i = 4;
		if (i == 4 && n >= 7 && b[4] >= '0' && b[4] <= '9')
			i = 5;
		if (i + 2 < n && b[i & 7] == '\r' && b[(i + 1) & 7] == '\n' && b[(i + 2) & 7] == '$')
			return WISP_PROTO_REDIS;
	}
	/*
	 * DNS over TCP (twin: inferDnsTcp in src/agent/protocols/dns/dns-session.ts):
	 * a query first, from the client: two-byte length 17..255, then the header
	 * of a standard query (QR 0, opcode 0, Z 0, rcode 0, one question). Only
	 * queries: a TLS ClientHello can pass the response-side checks.
	 */
	if (n >= 8 && ((direction == WISP_DIR_EGRESS && role == WISP_ROLE_CLIENT) ||
		       (direction == WISP_DIR_INGRESS && role == WISP_ROLE_SERVER)) &&
	    b[0] == 0 && b[1] >= 17 && (b[4] & 0xf8) == 0 && (b[5] & 0x4f) == 0 && b[6] == 0 &&
	    b[7] == 1)
		return WISP_PROTO_DNS;
	return WISP_PROTO_NOT_TRACED;
}

/*
 * A DNS message header (12 bytes at h) that is worth copying (twin:
 * plausibleDnsHeader in src/agent/protocols/dns/dns.parser.ts): one
 * question, a defined opcode, Z clear, and for queries no answer/authority
 * records except in UPDATE. Cheap enough for every UDP datagram, so QUIC,
 * statsd and friends are not copied.
 */
static __always_inline int dns_header_plausible(const __u8 *h, __u32 length)
{
	if (length < 17)
		return 0;
	__u8 opcode = (h[2] >> 3) & 0xf;
	if (opcode == 3 || opcode > 5 || (h[3] & 0x40) || h[4] != 0 || h[5] != 1)
		return 0;
	if (!(h[2] & 0x80) && opcode != 5 && ((h[3] & 0x0f) || h[6] || h[7] || h[8] || h[9]))
		return 0;
	return 1;
}

static __always_inline int is_vectored(__u16 syscall)
{
	return syscall == WISP_SYS_READV || syscall == WISP_SYS_WRITEV ||
	       syscall == WISP_SYS_RECVMSG || syscall == WISP_SYS_SENDMSG;
}

/* For vectored syscalls: the user iovec array and its length. */
static __always_inline int resolve_iov(const struct syscall_args *a, struct iovec **iov,
				       __u64 *iovcnt)
{
	if (a->syscall == WISP_SYS_READV || a->syscall == WISP_SYS_WRITEV) {
		*iov = (struct iovec *)a->buf;
		*iovcnt = a->iovcnt;
		return 0;
	}
	struct user_msghdr msg;
	if (bpf_probe_read_user(&msg, sizeof(msg), (void *)a->buf))
		return -1;
	*iov = msg.msg_iov;
	*iovcnt = msg.msg_iovlen;
	return 0;
}

/*
 * v = min(v, max) in a form clang cannot rewrite: the verifier must see the
 * bound on the very register that is passed to the helper.
 */
#define CLAMP_FOR_VERIFIER(v, max)                                          \
	asm volatile("if %[val] <= %[lim] goto +1\n\t%[val] = %[lim]"       \
		     : [val] "+r"(v)                                        \
		     : [lim] "i"(max))

/*
 * First bytes of the data for protocol inference: up to 8 in `b`. A first
 * iovec shorter than that is completed from the second one: DNS over TCP is
 * often written as [2-byte length][message].
 */
static __always_inline __u32 peek_bytes(const struct syscall_args *a, __u32 length, __u8 *b)
{
	__u64 n = length < 8 ? length : 8;
	const void *src = (const void *)a->buf;
	struct iovec second = {};
	if (is_vectored(a->syscall)) {
		struct iovec *iov;
		__u64 iovcnt;
		struct iovec first;
		if (resolve_iov(a, &iov, &iovcnt) || iovcnt == 0 ||
		    bpf_probe_read_user(&first, sizeof(first), iov))
			return 0;
		src = first.iov_base;
		if (first.iov_len < n) {
			if (iovcnt > 1 && bpf_probe_read_user(&second, sizeof(second), &iov[1]))
				second.iov_len = 0;
			n = first.iov_len;
		}
	}
	CLAMP_FOR_VERIFIER(n, 8);
	if (n == 0 || bpf_probe_read_user(b, n, src))
		return 0;
	if (n < 8 && n < length && second.iov_len > 0) {
		/* 16 bytes: offset <= 7 plus size <= 8 stays inside, as the verifier sees it. */
		__u8 joined[16] = {};
		__builtin_memcpy(joined, b, 8);
		__u64 at = n;
		CLAMP_FOR_VERIFIER(at, 7);
		__u64 m = 8 - n;
		if (m > second.iov_len)
			m = second.iov_len;
		CLAMP_FOR_VERIFIER(m, 8);
		if (m == 0 || bpf_probe_read_user(joined + at, m, second.iov_base))
			return n;
		__builtin_memcpy(b, joined, 8);
		n += m;
	}
	return n;
}

static __always_inline __u32 capture_cap(void)
{
	__u32 cap = max_capture_bytes;
	return cap > WISP_MAX_CAPTURE_BYTES ? WISP_MAX_CAPTURE_BYTES : cap;
}

/* State of copy_one_iovec across bpf_loop iterations. */
struct iov_copy {
	struct data_scratch *s;
	struct iovec *iov;
	__u64 iovcnt;
	__u32 want;
	__u32 off;
	__u32 read_failed;
};

/*
 * One iovec per bpf_loop iteration: the verifier checks the body once, so
 * writev with many iovecs (HTTP/2 writes two per frame) is copied whole
 * where an unrolled loop ran out of verifier budget at 16. Returns 1 to stop.
 */
static long copy_one_iovec(__u64 i, void *ctx)
{
	struct iov_copy *c = ctx;
	if (c->off >= c->want || i >= c->iovcnt)
		return 1;
	struct iovec v;
	if (bpf_probe_read_user(&v, sizeof(v), &c->iov[i])) {
		c->read_failed = 1;
		return 1;
	}
	__u64 chunk = v.iov_len;
	if (chunk > c->want - c->off)
		chunk = c->want - c->off;
	CLAMP_FOR_VERIFIER(chunk, WISP_MAX_CAPTURE_BYTES);
	__u64 at = c->off;
	CLAMP_FOR_VERIFIER(at, WISP_MAX_CAPTURE_BYTES - 1); /* off < want <= cap already */
	if (chunk == 0)
		return 0;
	if (bpf_probe_read_user(c->s->payload + at, chunk, v.iov_base)) {
		c->read_failed = 1;
		return 1;
	}
	c->off += chunk;
	return 0;
}

/* Copy up to `want` payload bytes into s->payload; returns bytes copied. */
static __always_inline __u32 copy_payload(struct data_scratch *s, const struct syscall_args *a,
					  __u32 want, __u16 *flags)
{
	if (!is_vectored(a->syscall)) {
		__u64 n = want;
		CLAMP_FOR_VERIFIER(n, WISP_MAX_CAPTURE_BYTES);
		if (n == 0)
			return 0;
		if (bpf_probe_read_user(s->payload, n, (const void *)a->buf)) {
			stat_inc(WISP_STAT_READ_USER_FAILED);
			return 0;
		}
		return n;
	}

	struct iovec *iov;
	__u64 iovcnt;
	if (resolve_iov(a, &iov, &iovcnt)) {
		stat_inc(WISP_STAT_READ_USER_FAILED);
		return 0;
	}
	struct iov_copy c = { .s = s, .iov = iov, .iovcnt = iovcnt, .want = want };
	bpf_loop(WISP_MAX_IOVECS, copy_one_iovec, &c, 0);
	__u32 off = c.off;
	if (c.read_failed) {
		stat_inc(WISP_STAT_READ_USER_FAILED);
		return off;
	}
	if (off < want) {
		stat_inc(WISP_STAT_IOVEC_TRUNCATED);
		*flags |= WISP_FLAG_TRUNCATED;
	}
	return off;
}

static __always_inline void emit_data(const struct syscall_args *a, __u32 tgid,
				      const struct conn_info *conn, __u64 position, __u32 length,
				      __u16 direction)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct data_scratch *s = bpf_map_lookup_elem(&scratch, &cpu);
	if (!s)
		return;
	/*
	 * A full ring buffer means user space is behind (or over its CPU budget):
	 * drop before paying for the copy. The stream position still advances, so
	 * user space sees a gap and resynchronizes at the next message.
	 */
	__u64 ring_bytes = bpf_ringbuf_query(&events, BPF_RB_RING_SIZE);
	__u64 pending = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	__u64 need = sizeof(struct wisp_data_record) + (length < capture_cap() ? length : capture_cap()) + 16;
	if (pending + need > ring_bytes) {
		stat_inc(WISP_STAT_RINGBUF_FULL);
		return;
	}
	__u16 flags = 0;
	__u32 captured = 0;
	if (a->syscall == WISP_SYS_SENDFILE) {
		flags |= WISP_FLAG_NO_PAYLOAD;
	} else {
		__u32 cap = capture_cap();
		__u32 want = length;
		if (want > cap) {
			want = cap;
			flags |= WISP_FLAG_TRUNCATED;
			stat_inc(WISP_STAT_CAPTURE_TRUNCATED);
		}
		captured = copy_payload(s, a, want, &flags);
		if (captured < length)
			flags |= WISP_FLAG_TRUNCATED;
	}
	struct wisp_data_record *r = &s->record;
	r->header.op = WISP_OP_DATA;
	r->header.flags = flags;
	r->header.size = sizeof(*r) + captured;
	r->header.tgid = tgid;
	r->header.fd = a->fd;
	r->header.timestamp_ns = bpf_ktime_get_ns();
	r->conn_id = conn->conn_id;
	r->position = position;
	r->length = length;
	r->captured = captured;
	r->direction = direction;
	r->syscall = a->syscall;
	r->reserved = 0;
	__u64 size = captured;
	CLAMP_FOR_VERIFIER(size, WISP_MAX_CAPTURE_BYTES);
	if (bpf_ringbuf_output(&events, s, sizeof(*r) + size, BPF_RB_NO_WAKEUP))
		stat_inc(WISP_STAT_RINGBUF_FULL);
}

/* ---- UDP datagrams (WISP_OP_DGRAM) ---- */

/* Syscalls that only work on sockets: an untracked fd there may be a UDP socket. */
static __always_inline int is_socket_syscall(__u16 syscall)
{
	return syscall == WISP_SYS_RECVFROM || syscall == WISP_SYS_SENDTO ||
	       syscall == WISP_SYS_RECVMSG || syscall == WISP_SYS_SENDMSG ||
	       syscall == WISP_SYS_RECVMMSG || syscall == WISP_SYS_SENDMMSG;
}

/* The socket and syscall one or more datagrams went through. */
struct dgram_ctx {
	struct sock *sk;
	__u64 mmsg; /* sendmmsg/recvmmsg: the user struct mmsghdr array */
	__u32 tgid;
	__u32 fd;
	__u16 family;
	__u16 syscall;
	__u16 direction;
	__u16 reserved;
};

/* One datagram in user memory: contiguous at `buf` (iovcnt 0) or an iovec array. */
struct dgram_msg {
	__u64 buf;
	__u64 iovcnt;
	__u64 name; /* the peer's struct sockaddr, 0: the connected peer */
	__u32 length;
};

/* Fills all but size, length, captured and payload; the remote address is the connected peer's. */
static __noinline void fill_dgram_record(struct wisp_dgram_record *r, const struct dgram_ctx *c)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct sock *sk = c->sk;
	__u16 family = c->family;
	r->header.op = WISP_OP_DGRAM;
	r->header.flags = 0;
	r->header.tgid = c->tgid;
	r->header.fd = c->fd;
	r->header.timestamp_ns = bpf_ktime_get_ns();
	r->process_start_ns = BPF_CORE_READ(task, group_leader, start_time);
	r->cgroup_id = bpf_get_current_cgroup_id();
	r->direction = c->direction;
	r->syscall = c->syscall;
	r->protocol = WISP_PROTO_DNS;
	r->family = family;
	r->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	r->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	r->reserved = 0;
	__builtin_memset(r->local_addr, 0, sizeof(r->local_addr));
	__builtin_memset(r->remote_addr, 0, sizeof(r->remote_addr));
	if (family == AF_INET) {
		bpf_core_read(r->local_addr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(r->remote_addr, 4, &sk->__sk_common.skc_daddr);
	} else {
		bpf_core_read(r->local_addr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(r->remote_addr, 16, &sk->__sk_common.skc_v6_daddr);
	}
}

/* Overwrites the remote address with the sockaddr at `name` (sendto/recvfrom/msg_name). */
static __always_inline void read_peer(struct wisp_dgram_record *r, __u64 name)
{
	__u8 sa[28] = {}; /* sockaddr_in6; a sockaddr_in is its first 16 bytes */
	if (!name || bpf_probe_read_user(sa, 16, (const void *)name))
		return;
	__u16 sa_family = sa[0] | (sa[1] << 8);
	if (sa_family == AF_INET) {
		r->remote_port = (sa[2] << 8) | sa[3];
		__builtin_memset(r->remote_addr, 0, sizeof(r->remote_addr));
		if (r->family == AF_INET) {
			__builtin_memcpy(r->remote_addr, &sa[4], 4);
		} else {
			/* An IPv4 peer of an IPv6 socket: the v4-mapped form. */
			r->remote_addr[10] = 0xff;
			r->remote_addr[11] = 0xff;
			__builtin_memcpy(&r->remote_addr[12], &sa[4], 4);
		}
	} else if (sa_family == AF_INET6 && r->family == AF_INET6 &&
		   !bpf_probe_read_user(sa, sizeof(sa), (const void *)name)) {
		r->remote_port = (sa[2] << 8) | sa[3];
		__builtin_memcpy(r->remote_addr, &sa[8], 16);
	}
}

/* Emits one datagram if it looks like DNS (dns_header_plausible). */
static __always_inline void emit_dgram(const struct dgram_ctx *c, const struct dgram_msg *m)
{
	const void *first = (const void *)m->buf;
	__u64 first_len = m->length;
	if (m->iovcnt) {
		struct iovec v;
		if (bpf_probe_read_user(&v, sizeof(v), (const void *)m->buf))
			return;
		first = v.iov_base;
		first_len = v.iov_len;
	}
	__u8 h[12] = {};
	if (first_len < sizeof(h) || bpf_probe_read_user(h, sizeof(h), first) ||
	    !dns_header_plausible(h, m->length))
		return;

	__u32 zero = 0;
	struct dgram_scratch *s = bpf_map_lookup_elem(&dgram_scratch, &zero);
	if (!s)
		return;
	struct wisp_dgram_record *r = &s->record;
	fill_dgram_record(r, c);
	read_peer(r, m->name);

	/*
	 * Only the first segment is copied: resolvers and servers send and
	 * receive a datagram through one buffer or one iovec; more is cut
	 * (WISP_FLAG_TRUNCATED), which keeps this verifiable in every program.
	 */
	__u64 n = first_len < m->length ? first_len : m->length;
	CLAMP_FOR_VERIFIER(n, WISP_MAX_DGRAM_BYTES);
	if (bpf_probe_read_user(s->payload, n, first)) {
		stat_inc(WISP_STAT_READ_USER_FAILED);
		return;
	}
	__u32 off = n;
	if (off < m->length)
		r->header.flags |= WISP_FLAG_TRUNCATED;
	r->length = m->length;
	r->captured = off;
	r->header.size = sizeof(*r) + off;
	__u64 size = off;
	CLAMP_FOR_VERIFIER(size, WISP_MAX_DGRAM_BYTES);
	if (bpf_ringbuf_output(&events, s, sizeof(*r) + size, BPF_RB_NO_WAKEUP))
		stat_inc(WISP_STAT_RINGBUF_FULL);
}

/* bpf_loop body: message `index` of a sendmmsg/recvmmsg. */
static long emit_mmsg_one(__u64 index, void *ctx)
{
	const struct dgram_ctx *c = ctx;
	struct mmsghdr mh;
	if (bpf_probe_read_user(&mh, sizeof(mh), (const void *)(c->mmsg + index * sizeof(mh))))
		return 1;
	struct dgram_msg m = {
		.buf = (__u64)mh.msg_hdr.msg_iov,
		.iovcnt = mh.msg_hdr.msg_iovlen,
		.name = (__u64)mh.msg_hdr.msg_name,
		.length = mh.msg_len,
	};
	if (m.iovcnt && m.length)
		emit_dgram(c, &m);
	return 0;
}

/*
 * A socket-only syscall on an untracked fd (or read/write on a connected UDP
 * socket) moved `ret` bytes (messages for *mmsg): if the socket is inet UDP,
 * emit its DNS datagrams. The fd is a socket: the syscall succeeded.
 */
static __always_inline int exit_dgram(const struct syscall_args *a, long ret)
{
	struct sock *sk = fd_to_sock(a->fd);
	if (!sk)
		return 0;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	__u16 type = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_type);
	__u16 protocol = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
	if (type == SOCK_STREAM && protocol == IPPROTO_TCP && a->syscall != WISP_SYS_SENDMMSG &&
	    a->syscall != WISP_SYS_RECVMMSG) {
		/*
		 * A TCP socket this process did not accept or connect: inherited
		 * over fork (postgres and dnsmasq serve each connection in a child)
		 * or opened before the programs were attached (found by a
		 * recv/send, or by a read/write when user space listed it in
		 * socket_fds). Adopt it; its bytes take the stream path from here
		 * on.
		 */
		__u32 tgid = bpf_get_current_pid_tgid() >> 32;
		if (track_conn(tgid, a->fd, sk, family, WISP_ROLE_UNKNOWN))
			return 0;
		__u64 key = conn_key(tgid, a->fd);
		bpf_map_delete_elem(&socket_fds, &key); /* tracked now: conns answers for it */
		stat_inc(WISP_STAT_CONN_ADOPTED);
		return EXIT_DGRAM_ADOPTED;
	}
	if (type != SOCK_DGRAM || protocol != IPPROTO_UDP)
		return 0;
	__u16 syscall = a->syscall;
	struct dgram_ctx c = {
		.sk = sk,
		.tgid = bpf_get_current_pid_tgid() >> 32,
		.fd = a->fd,
		.family = family,
		.syscall = syscall,
		.direction = (syscall == WISP_SYS_READ || syscall == WISP_SYS_READV ||
			      syscall == WISP_SYS_RECVFROM || syscall == WISP_SYS_RECVMSG ||
			      syscall == WISP_SYS_RECVMMSG) ?
				     WISP_DIR_INGRESS :
				     WISP_DIR_EGRESS,
	};
	if (syscall == WISP_SYS_SENDMMSG || syscall == WISP_SYS_RECVMMSG) {
		__u32 n = ret;
		if (n > WISP_MAX_MMSG) {
			stat_inc(WISP_STAT_MMSG_TRUNCATED);
			n = WISP_MAX_MMSG;
		}
		c.mmsg = a->buf;
		bpf_loop(n, emit_mmsg_one, &c, 0);
		return 0;
	}
	struct dgram_msg m = { .buf = a->buf, .length = ret };
	if (syscall == WISP_SYS_SENDMSG || syscall == WISP_SYS_RECVMSG) {
		struct user_msghdr msg;
		if (bpf_probe_read_user(&msg, sizeof(msg), (const void *)a->buf))
			return 0;
		m.buf = (__u64)msg.msg_iov;
		m.iovcnt = msg.msg_iovlen;
		m.name = (__u64)msg.msg_name;
		if (!m.iovcnt)
			return 0;
	} else if (syscall == WISP_SYS_READV || syscall == WISP_SYS_WRITEV) {
		m.iovcnt = a->iovcnt;
	} else if (syscall == WISP_SYS_SENDTO || syscall == WISP_SYS_RECVFROM) {
		m.name = a->iovcnt;
	}
	emit_dgram(&c, &m);
	return 0;
}

/* ---- TLS plaintext (uprobes on OpenSSL) ---- */

/* A TLS library call in progress on this thread, from uprobe entry to uretprobe. */
struct tls_call {
	__u64 ssl; /* the SSL * */
	__u64 buf; /* the caller's plaintext buffer */
	__u64 done_ptr; /* _ex variants: the size_t * receiving the byte count; 0: the return value is the count */
	__s32 fd; /* -1 until a data syscall on a tracked connection names it */
	__u16 syscall; /* WISP_SYS_SSL_READ or WISP_SYS_SSL_WRITE */
	__u16 active;
};

/* Task-local for the same reasons as `args`: no hashing, freed with the thread. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tls_call);
} tls_calls SEC(".maps");

struct ssl_key {
	__u64 ssl;
	__u32 tgid;
	__u32 reserved;
};

/*
 * The fd last seen under an SSL object: an SSL_read served from bytes
 * OpenSSL already buffered makes no syscall to name it. LRU: SSL objects are
 * freed without our knowing; a reused address is corrected by the next
 * syscall seen under it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ssl_key);
	__type(value, __u32);
} ssl_fds SEC(".maps");

/*
 * Called by exit_data for a tracked connection: when this thread is inside
 * SSL_read/SSL_write, note the fd for the uretprobe, mark the connection TLS
 * and return 1 (the bytes are ciphertext: not emitted). The flag is a plain
 * read-modify-write: bits are only ever set, a lost update is redone.
 */
static __always_inline int tls_note_fd(__u32 fd, struct conn_info *conn)
{
	struct tls_call *t = bpf_task_storage_get(&tls_calls, bpf_get_current_task_btf(), 0, 0);
	if (!t || !t->active)
		return 0;
	t->fd = fd;
	if (!(conn->flags & CONN_F_TLS))
		conn->flags |= CONN_F_TLS;
	return 1;
}

/* Data syscall enter: stash the args when the fd is a tracked connection. */
static __always_inline int enter_data(__u32 fd, __u64 buf, __u64 iovcnt, __u16 syscall)
{
	if (mode == MODE_BARE)
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	if (tgid == self_pid)
		return 0;
	__u64 key = conn_key(tgid, fd);
	__u16 pending = PENDING_STREAM;
	if (syscall == WISP_SYS_SENDMMSG || syscall == WISP_SYS_RECVMMSG ||
	    !bpf_map_lookup_elem(&conns, &key)) {
		/* Not a tracked TCP connection: maybe UDP datagrams. */
		if (!is_socket_syscall(syscall) && !bpf_map_lookup_elem(&socket_fds, &key))
			return 0;
		pending = PENDING_DGRAM;
	}
	struct syscall_args *a = thread_args(1);
	if (!a) {
		stat_inc(WISP_STAT_ARGS_STASH_FAILED);
		return 0;
	}
	a->buf = buf;
	a->iovcnt = iovcnt;
	a->fd = fd;
	a->syscall = syscall;
	a->pending = pending;
	return 0;
}

/* Data syscall exit: account, infer, emit. */
static __always_inline int exit_data(long ret)
{
	if (mode == MODE_BARE)
		return 0;
	struct syscall_args *stashed = thread_args(0);
	if (!stashed || !stashed->pending || stashed->syscall == SYS_CONNECT)
		return 0;
	struct syscall_args a = *stashed;
	stashed->pending = 0;
	if (ret <= 0)
		return 0;
	if (a.pending == PENDING_DGRAM && exit_dgram(&a, ret) != EXIT_DGRAM_ADOPTED)
		return 0;

	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	__u64 key = conn_key(tgid, a.fd);
	struct conn_info *conn = bpf_map_lookup_elem(&conns, &key);
	if (!conn)
		return 0; /* closed by another thread meanwhile */

	__u32 length = ret;
	__u16 direction = (a.syscall == WISP_SYS_READ || a.syscall == WISP_SYS_READV ||
			   a.syscall == WISP_SYS_RECVFROM || a.syscall == WISP_SYS_RECVMSG) ?
				  WISP_DIR_INGRESS :
				  WISP_DIR_EGRESS;
	__u64 position = direction == WISP_DIR_EGRESS ?
				 __sync_fetch_and_add(&conn->bytes_sent, length) :
				 __sync_fetch_and_add(&conn->bytes_received, length);

	/* Ciphertext: the TLS uprobes emit the plaintext of this connection instead. */
	if (tls_note_fd(a.fd, conn) || (conn->flags & CONN_F_TLS))
		return 0;

	if (conn->protocol == WISP_PROTO_UNKNOWN && a.syscall != WISP_SYS_SENDFILE) {
		__u8 head[8] = {};
		__u32 n = peek_bytes(&a, length, head);
		__u64 first8;
		__builtin_memcpy(&first8, head, sizeof(first8));
		conn->protocol = infer_protocol(first8, n, direction, conn->role);
		if (conn->protocol == WISP_PROTO_NOT_TRACED)
			stat_inc(WISP_STAT_CONN_NOT_TRACED);
	}
	if (conn->protocol != WISP_PROTO_HTTP1 && conn->protocol != WISP_PROTO_HTTP2 &&
	    conn->protocol != WISP_PROTO_PGSQL && conn->protocol != WISP_PROTO_MYSQL &&
	    conn->protocol != WISP_PROTO_REDIS && conn->protocol != WISP_PROTO_DNS)
		return 0;
	emit_data(&a, tgid, conn, position, length, direction);
	return 0;
}

/* ---- connection lifecycle ---- */

SEC("tracepoint/syscalls/sys_exit_accept")
int exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	if (mode == MODE_BARE)
		return 0;
	if (ctx->ret >= 0)
		open_conn(ctx->ret, WISP_ROLE_SERVER);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	if (mode == MODE_BARE)
		return 0;
	if (ctx->ret >= 0)
		open_conn(ctx->ret, WISP_ROLE_SERVER);
	return 0;
}

/* connect needs its fd at exit: stashed in `args` with syscall 0. */
SEC("tracepoint/syscalls/sys_enter_connect")
int enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	if (mode == MODE_BARE)
		return 0;
	if ((__u32)(bpf_get_current_pid_tgid() >> 32) == self_pid)
		return 0;
	struct syscall_args *a = thread_args(1);
	if (!a) {
		stat_inc(WISP_STAT_ARGS_STASH_FAILED);
		return 0;
	}
	a->fd = ctx->args[0];
	a->syscall = SYS_CONNECT;
	a->pending = 1;
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	if (mode == MODE_BARE)
		return 0;
	struct syscall_args *stashed = thread_args(0);
	if (!stashed || !stashed->pending || stashed->syscall != SYS_CONNECT)
		return 0;
	__u32 fd = stashed->fd;
	stashed->pending = 0;
	/* A non-blocking connect in progress is an open connection. */
	if (ctx->ret == 0 || ctx->ret == -EINPROGRESS)
		open_conn(fd, WISP_ROLE_CLIENT);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(struct trace_event_raw_sys_enter *ctx)
{
	if (mode == MODE_BARE)
		return 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 fd = ctx->args[0];
	__u64 key = conn_key(tgid, fd);
	/* A connected UDP socket, or an adopted pre-existing TCP connection, maybe. */
	bpf_map_delete_elem(&socket_fds, &key);
	struct conn_info *conn = bpf_map_lookup_elem(&conns, &key);
	if (!conn)
		return 0;
	emit_close(tgid, fd, conn, 0);
	bpf_map_delete_elem(&conns, &key);
	return 0;
}

struct exit_scan {
	__u32 tgid;
};

static long close_exited(struct bpf_map *map, __u64 *key, struct conn_info *conn,
			 struct exit_scan *scan)
{
	if ((__u32)(*key >> 32) != scan->tgid)
		return 0;
	stat_inc(WISP_STAT_STALE_CONN);
	emit_close(scan->tgid, (__u32)*key, conn, WISP_FLAG_STALE);
	bpf_map_delete_elem(map, key);
	return 0;
}

/*
 * do_exit() stores the exit code in task->exit_code before it fires
 * sched_process_exit; for a group exit (exit_group, fatal signal) every
 * thread carries the group's code, so the last thread's code is the process's.
 */
static __noinline void fill_proc_exit_record(struct wisp_proc_exit_record *r, __u32 tgid,
					     struct task_struct *task)
{
	r->header.op = WISP_OP_PROC_EXIT;
	r->header.flags = 0;
	r->header.size = sizeof(*r);
	r->header.tgid = tgid;
	r->header.fd = 0;
	r->header.timestamp_ns = bpf_ktime_get_ns();
	r->process_start_ns = BPF_CORE_READ(task, group_leader, start_time);
	r->exit_code = BPF_CORE_READ(task, exit_code);
	r->reserved = 0;
	__builtin_memset(r->comm, 0, sizeof(r->comm));
	BPF_CORE_READ_STR_INTO(&r->comm, task, group_leader, comm);
}

/*
 * Last thread of a process exits: its fds are closed by the kernel without
 * close(): report and forget its connections (the scan walks the whole
 * `conns` table, once per process exit), then report the exit itself.
 */
SEC("tracepoint/sched/sched_process_exit")
int process_exit(void *ctx)
{
	if (mode == MODE_BARE)
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	struct exit_scan scan = { .tgid = id >> 32 };
	bpf_for_each_map_elem(&conns, close_exited, &scan, 0);

	struct wisp_proc_exit_record *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		stat_inc(WISP_STAT_RINGBUF_FULL);
		return 0;
	}
	fill_proc_exit_record(r, scan.tgid, task);
	bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
	return 0;
}

/* ---- data syscalls ---- */

#define DATA_ENTER(name, sys, buf_arg, cnt_expr)                                  \
	SEC("tracepoint/syscalls/sys_enter_" #name)                             \
	int enter_##name(struct trace_event_raw_sys_enter *ctx)                 \
	{                                                                       \
		return enter_data(ctx->args[0], ctx->args[buf_arg], cnt_expr, sys); \
	}                                                                       \
	SEC("tracepoint/syscalls/sys_exit_" #name)                              \
	int exit_##name(struct trace_event_raw_sys_exit *ctx)                   \
	{                                                                       \
		return exit_data(ctx->ret);                                     \
	}

DATA_ENTER(read, WISP_SYS_READ, 1, 0)
DATA_ENTER(write, WISP_SYS_WRITE, 1, 0)
DATA_ENTER(readv, WISP_SYS_READV, 1, ctx->args[2])
DATA_ENTER(writev, WISP_SYS_WRITEV, 1, ctx->args[2])
/* recvfrom/sendto: args[4] is the peer's sockaddr (datagrams; unused for streams). */
DATA_ENTER(recvfrom, WISP_SYS_RECVFROM, 1, ctx->args[4])
DATA_ENTER(sendto, WISP_SYS_SENDTO, 1, ctx->args[4])
DATA_ENTER(recvmsg, WISP_SYS_RECVMSG, 1, 0)
DATA_ENTER(sendmsg, WISP_SYS_SENDMSG, 1, 0)
/* sendfile64(out_fd, in_fd, offset, count): out_fd is the socket. */
DATA_ENTER(sendfile64, WISP_SYS_SENDFILE, 2, 0)
/* sendmmsg/recvmmsg(fd, struct mmsghdr *, vlen, ...): UDP datagrams only. */
DATA_ENTER(sendmmsg, WISP_SYS_SENDMMSG, 1, ctx->args[2])
DATA_ENTER(recvmmsg, WISP_SYS_RECVMMSG, 1, ctx->args[2])

/* ---- TLS library calls (uprobes; the addon attaches them per library or binary) ---- */

static __always_inline int is_traced_protocol(__u16 protocol)
{
	return protocol == WISP_PROTO_HTTP1 || protocol == WISP_PROTO_HTTP2 ||
	       protocol == WISP_PROTO_PGSQL || protocol == WISP_PROTO_MYSQL ||
	       protocol == WISP_PROTO_REDIS || protocol == WISP_PROTO_DNS;
}

static __always_inline int tls_enter(__u64 ssl, __u64 buf, __u64 done_ptr, __u16 syscall)
{
	if (mode == MODE_BARE)
		return 0;
	if ((__u32)(bpf_get_current_pid_tgid() >> 32) == self_pid)
		return 0;
	struct tls_call *t = bpf_task_storage_get(&tls_calls, bpf_get_current_task_btf(), 0,
						  BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!t) {
		stat_inc(WISP_STAT_ARGS_STASH_FAILED);
		return 0;
	}
	t->ssl = ssl;
	t->buf = buf;
	t->done_ptr = done_ptr;
	t->fd = -1;
	t->syscall = syscall;
	t->active = 1;
	return 0;
}

/* A plaintext DATA record's fixed part (all but size, flags and captured). */
struct tls_data {
	__u64 conn_id;
	__u64 position;
	__u64 buf;
	__u32 tgid;
	__u32 fd;
	__u32 length;
	__u32 captured; /* bytes to copy: min(length, cap) */
	__u16 direction;
	__u16 syscall;
	__u32 reserved;
};

static __noinline void fill_tls_data_record(struct wisp_data_record *r, const struct tls_data *d,
					    __u32 captured)
{
	r->header.op = WISP_OP_DATA;
	r->header.flags = WISP_FLAG_TLS | (captured < d->length ? WISP_FLAG_TRUNCATED : 0);
	r->header.size = sizeof(*r) + captured;
	r->header.tgid = d->tgid;
	r->header.fd = d->fd;
	r->header.timestamp_ns = bpf_ktime_get_ns();
	r->conn_id = d->conn_id;
	r->position = d->position;
	r->length = d->length;
	r->captured = captured;
	r->direction = d->direction;
	r->syscall = d->syscall;
	r->reserved = 0;
}

/*
 * The plaintext is copied straight into a ring-buffer reservation, not
 * through the per-CPU scratch of the syscall path: uprobe programs run with
 * preemption enabled (only migration is disabled), so a per-CPU slot is not
 * exclusive to them. A reservation needs a constant size: the smallest
 * bucket that holds the payload is reserved; header.size says how much of it
 * is meaningful and the addon copies only that.
 */
#define TLS_BUCKET(BYTES)                                                                   \
	if (d->captured <= (BYTES)) {                                                       \
		struct wisp_data_record *r =                                                \
			bpf_ringbuf_reserve(&events, sizeof(*r) + (BYTES), 0);              \
		if (!r) {                                                                   \
			stat_inc(WISP_STAT_RINGBUF_FULL);                                   \
			return;                                                             \
		}                                                                           \
		__u64 n = d->captured;                                                      \
		CLAMP_FOR_VERIFIER(n, (BYTES));                                             \
		if (n && bpf_probe_read_user((void *)(r + 1), n, (const void *)d->buf)) {   \
			stat_inc(WISP_STAT_READ_USER_FAILED);                               \
			n = 0; /* a gap: positions stay exact */                            \
		}                                                                           \
		fill_tls_data_record(r, d, n);                                              \
		bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);                                    \
		return;                                                                     \
	}

static __always_inline void emit_tls_data(const struct tls_data *d)
{
	TLS_BUCKET(256)
	TLS_BUCKET(1024)
	TLS_BUCKET(4096)
	TLS_BUCKET(16384)
	TLS_BUCKET(WISP_MAX_CAPTURE_BYTES)
}

/*
 * The TLS call returned `count` plaintext bytes (0: nothing moved). Finds the
 * connection (the fd a nested syscall named, or the one last seen under this
 * SSL object) and emits the plaintext at plaintext positions. A global
 * function: verified once, shared by the four return probes.
 */
__noinline int tls_exit(__u64 count)
{
	struct tls_call *t = bpf_task_storage_get(&tls_calls, bpf_get_current_task_btf(), 0, 0);
	if (!t || !t->active)
		return 0;
	t->active = 0;
	if (count == 0)
		return 0;
	if (count > 0x7fffffff)
		count = 0x7fffffff;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct ssl_key k = { .ssl = t->ssl, .tgid = tgid };
	__u32 fd;
	if (t->fd >= 0) {
		fd = t->fd;
		bpf_map_update_elem(&ssl_fds, &k, &fd, BPF_ANY);
	} else {
		__u32 *known = bpf_map_lookup_elem(&ssl_fds, &k);
		if (!known) {
			stat_inc(WISP_STAT_TLS_FD_UNKNOWN);
			return 0;
		}
		fd = *known;
	}
	__u64 key = conn_key(tgid, fd);
	struct conn_info *conn = bpf_map_lookup_elem(&conns, &key);
	if (!conn) {
		stat_inc(WISP_STAT_TLS_FD_UNKNOWN);
		return 0;
	}
	__u16 direction = t->syscall == WISP_SYS_SSL_READ ? WISP_DIR_INGRESS : WISP_DIR_EGRESS;
	__u64 position = direction == WISP_DIR_EGRESS ?
				 __sync_fetch_and_add(&conn->tls_bytes_sent, count) :
				 __sync_fetch_and_add(&conn->tls_bytes_received, count);
	if (!(conn->flags & CONN_F_TLS_INFERRED)) {
		/* The socket saw only handshake records: decide on the plaintext. */
		__u64 first8 = 0;
		__u32 n = count < 8 ? count : 8;
		__u64 m = n;
		CLAMP_FOR_VERIFIER(m, 8);
		if (m == 0 || bpf_probe_read_user(&first8, m, (const void *)t->buf))
			n = 0;
		conn->protocol = infer_protocol(first8, n, direction, conn->role);
		conn->flags |= CONN_F_TLS | CONN_F_TLS_INFERRED;
	} else if (!(conn->flags & CONN_F_TLS)) {
		conn->flags |= CONN_F_TLS;
	}
	if (!is_traced_protocol(conn->protocol))
		return 0;
	__u32 cap = capture_cap();
	struct tls_data d = {
		.conn_id = conn->conn_id,
		.position = position,
		.buf = t->buf,
		.tgid = tgid,
		.fd = fd,
		.length = count,
		.captured = count < cap ? count : cap,
		.direction = direction,
		.syscall = t->syscall,
	};
	if (d.captured < count)
		stat_inc(WISP_STAT_CAPTURE_TRUNCATED);
	emit_tls_data(&d);
	return 0;
}

/* int SSL_write(SSL *ssl, const void *buf, int num): returns the bytes written, <= 0 on failure. */
SEC("uprobe")
int BPF_KPROBE(ssl_write_enter, void *ssl, const void *buf)
{
	return tls_enter((__u64)ssl, (__u64)buf, 0, WISP_SYS_SSL_WRITE);
}

SEC("uretprobe")
int BPF_KRETPROBE(ssl_write_exit, int ret)
{
	if (mode == MODE_BARE)
		return 0;
	return tls_exit(ret > 0 ? ret : 0);
}

/* int SSL_read(SSL *ssl, void *buf, int num): returns the bytes read, <= 0 on failure. */
SEC("uprobe")
int BPF_KPROBE(ssl_read_enter, void *ssl, void *buf)
{
	return tls_enter((__u64)ssl, (__u64)buf, 0, WISP_SYS_SSL_READ);
}

SEC("uretprobe")
int BPF_KRETPROBE(ssl_read_exit, int ret)
{
	if (mode == MODE_BARE)
		return 0;
	return tls_exit(ret > 0 ? ret : 0);
}

/* The byte count of an _ex call: *done_ptr when it returned 1, else 0. */
static __always_inline __u64 tls_ex_count(int ret)
{
	struct tls_call *t = bpf_task_storage_get(&tls_calls, bpf_get_current_task_btf(), 0, 0);
	__u64 count = 0;
	if (ret != 1 || !t || !t->active || !t->done_ptr ||
	    bpf_probe_read_user(&count, sizeof(count), (const void *)t->done_ptr))
		return 0;
	return count;
}

/* int SSL_write_ex(SSL *ssl, const void *buf, size_t num, size_t *written): 1 on success. */
SEC("uprobe")
int BPF_KPROBE(ssl_write_ex_enter, void *ssl, const void *buf, __u64 num, __u64 *written)
{
	return tls_enter((__u64)ssl, (__u64)buf, (__u64)written, WISP_SYS_SSL_WRITE);
}

SEC("uretprobe")
int BPF_KRETPROBE(ssl_write_ex_exit, int ret)
{
	if (mode == MODE_BARE)
		return 0;
	return tls_exit(tls_ex_count(ret));
}

/* int SSL_read_ex(SSL *ssl, void *buf, size_t num, size_t *readbytes): 1 on success. */
SEC("uprobe")
int BPF_KPROBE(ssl_read_ex_enter, void *ssl, void *buf, __u64 num, __u64 *readbytes)
{
	return tls_enter((__u64)ssl, (__u64)buf, (__u64)readbytes, WISP_SYS_SSL_READ);
}

SEC("uretprobe")
int BPF_KRETPROBE(ssl_read_ex_exit, int ret)
{
	if (mode == MODE_BARE)
		return 0;
	return tls_exit(tls_ex_count(ret));
}
