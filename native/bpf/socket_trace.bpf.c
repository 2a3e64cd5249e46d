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
 * Caveats (by design, documented for the tracker):
 * - Connections opened before the programs were attached are not in `conns`
 *   and stay invisible until they are closed and reopened.
 * - An fd inherited through fork() or passed over SCM_RIGHTS is keyed by the
 *   opening tgid only: the other process's traffic on it is not seen.
 * - close_range(), dup2() over a tracked fd, io_uring I/O are not hooked; a
 *   reused fd is detected on the next accept/connect and reported as a
 *   CONN_CLOSE with WISP_FLAG_STALE.
 * - sendfile64 moves bytes we cannot read: it becomes a DATA record with
 *   WISP_FLAG_NO_PAYLOAD so positions stay exact.
 *
 * Record layouts: socket_trace.h. Output never wakes the reader
 * (BPF_RB_NO_WAKEUP): user space drains on a timer, because wake-ups dominate
 * the cost per event.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "socket_trace.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define IPPROTO_TCP 6
#define EINPROGRESS 115

#define MODE_FULL 0
#define MODE_BARE 1

/* Settings, fixed before load (read-only data; the verifier folds them). */
const volatile __u32 self_pid = 0; /* tgid of the agent: never traced */
const volatile __u32 max_capture_bytes = 16384; /* <= WISP_MAX_CAPTURE_BYTES */
const volatile __u32 mode = MODE_FULL; /* MODE_BARE: attach, do nothing */

/* Per tracked connection. Byte counters are updated atomically: they are the
 * stream positions of the next byte in each direction. */
struct conn_info {
	__u64 conn_id;
	__u64 bytes_sent;
	__u64 bytes_received;
	__u16 role;
	__u16 protocol;
	__u32 reserved;
};

/* Syscall arguments stashed between enter and exit, per thread. */
struct syscall_args {
	__u64 buf; /* buffer, iovec array or user_msghdr, by `syscall` */
	__u64 iovcnt; /* readv/writev */
	__u32 fd;
	__u16 syscall; /* WISP_SYS_*, or SYS_CONNECT */
	__u16 pending; /* set at enter, cleared at exit */
};

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
	/* accept/connect succeeded on this fd, so private_data is a socket. */
	struct socket *sock = BPF_CORE_READ(file, private_data);
	if (!sock)
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
	if (type != SOCK_STREAM || protocol != IPPROTO_TCP)
		return;

	__u64 key = conn_key(tgid, fd);
	struct conn_info *stale = bpf_map_lookup_elem(&conns, &key);
	if (stale) {
		/* The fd was closed in a way we do not hook: report the old one. */
		stat_inc(WISP_STAT_STALE_CONN);
		emit_close(tgid, fd, stale, WISP_FLAG_STALE);
	}

	__u32 zero = 0;
	__u64 *counter = bpf_map_lookup_elem(&next_conn_id, &zero);
	if (!counter)
		return;
	struct conn_info info = {
		.conn_id = __sync_fetch_and_add(counter, 1) + 1,
		.role = role,
		.protocol = WISP_PROTO_UNKNOWN,
	};
	if (bpf_map_update_elem(&conns, &key, &info, BPF_ANY)) {
		stat_inc(WISP_STAT_CONN_MAP_FULL);
		return;
	}

	struct wisp_conn_open_record *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		/* The tracker would see data of an unknown connection: forget it. */
		stat_inc(WISP_STAT_RINGBUF_FULL);
		bpf_map_delete_elem(&conns, &key);
		return;
	}
	r->header.tgid = tgid;
	r->header.fd = fd;
	r->conn_id = info.conn_id;
	r->role = role;
	fill_open_record(r, sk, family);
	bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
}

/*
 * Protocol inference on the first bytes of a connection (either direction).
 * One place for all protocols: add a new one here and a WISP_PROTO_* value.
 * `n` is how many of the 8 bytes are valid.
 */
static __always_inline __u16 infer_protocol(const __u8 *b, __u32 n)
{
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
	return WISP_PROTO_NOT_TRACED;
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

/* First bytes of the data for protocol inference: up to 8 in `b`. */
static __always_inline __u32 peek_bytes(const struct syscall_args *a, __u32 length, __u8 *b)
{
	__u64 n = length < 8 ? length : 8;
	const void *src = (const void *)a->buf;
	if (is_vectored(a->syscall)) {
		struct iovec *iov;
		__u64 iovcnt;
		struct iovec first;
		if (resolve_iov(a, &iov, &iovcnt) || iovcnt == 0 ||
		    bpf_probe_read_user(&first, sizeof(first), iov))
			return 0;
		src = first.iov_base;
		if (first.iov_len < n)
			n = first.iov_len;
	}
	CLAMP_FOR_VERIFIER(n, 8);
	if (n == 0 || bpf_probe_read_user(b, n, src))
		return 0;
	return n;
}

static __always_inline __u32 capture_cap(void)
{
	__u32 cap = max_capture_bytes;
	return cap > WISP_MAX_CAPTURE_BYTES ? WISP_MAX_CAPTURE_BYTES : cap;
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
	__u32 off = 0;
	for (int i = 0; i < WISP_MAX_IOVECS; i++) {
		if (off >= want || i >= iovcnt)
			return off;
		struct iovec v;
		if (bpf_probe_read_user(&v, sizeof(v), &iov[i])) {
			stat_inc(WISP_STAT_READ_USER_FAILED);
			return off;
		}
		__u64 chunk = v.iov_len;
		if (chunk > want - off)
			chunk = want - off;
		CLAMP_FOR_VERIFIER(chunk, WISP_MAX_CAPTURE_BYTES);
		__u64 at = off;
		CLAMP_FOR_VERIFIER(at, WISP_MAX_CAPTURE_BYTES - 1); /* off < want <= cap already */
		if (chunk == 0)
			continue;
		if (bpf_probe_read_user(s->payload + at, chunk, v.iov_base)) {
			stat_inc(WISP_STAT_READ_USER_FAILED);
			return off;
		}
		off += chunk;
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
	if (!bpf_map_lookup_elem(&conns, &key))
		return 0;
	struct syscall_args *a = thread_args(1);
	if (!a) {
		stat_inc(WISP_STAT_ARGS_STASH_FAILED);
		return 0;
	}
	a->buf = buf;
	a->iovcnt = iovcnt;
	a->fd = fd;
	a->syscall = syscall;
	a->pending = 1;
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

	if (conn->protocol == WISP_PROTO_UNKNOWN && a.syscall != WISP_SYS_SENDFILE) {
		__u8 head[8] = {};
		__u32 n = peek_bytes(&a, length, head);
		conn->protocol = infer_protocol(head, n);
		if (conn->protocol == WISP_PROTO_NOT_TRACED)
			stat_inc(WISP_STAT_CONN_NOT_TRACED);
	}
	if (conn->protocol != WISP_PROTO_HTTP1)
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
 * Last thread of a process exits: its fds are closed by the kernel without
 * close(): report and forget its connections. The scan walks the whole
 * `conns` table, once per process exit.
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
DATA_ENTER(recvfrom, WISP_SYS_RECVFROM, 1, 0)
DATA_ENTER(sendto, WISP_SYS_SENDTO, 1, 0)
DATA_ENTER(recvmsg, WISP_SYS_RECVMSG, 1, 0)
DATA_ENTER(sendmsg, WISP_SYS_SENDMSG, 1, 0)
/* sendfile64(out_fd, in_fd, offset, count): out_fd is the socket. */
DATA_ENTER(sendfile64, WISP_SYS_SENDFILE, 2, 0)
