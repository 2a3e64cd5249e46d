// Node-API addon around the socket_trace skeleton (native/bpf/socket_trace.bpf.c).
//
// Contract (TypeScript twin: src/agent/bpf/addon.ts, the only importer):
//   open({ selfPid, maxCaptureBytes, ringBufferBytes, maxConnections, mode }) -> handle
//   drain(handle, Uint8Array) -> bytes written: whole records, each at an 8-byte
//       aligned offset, stepping by round_up(header.size, 8); padding is zeroed.
//   counters(handle) -> { <kernel stat>: n, recordsDrained, bytesDrained, ... }
//   connStats(handle, Uint8Array) -> entries written: the values of the kernel
//       `conns` table (struct conn_info), packed at its size, read with batch
//       lookups; what does not fit is left for the next call (counted).
//   attachTls(handle, path) -> uprobes on SSL_read/SSL_write(_ex) of the ELF file
//       at `path` (a libssl or a binary linking OpenSSL statically), for every
//       process mapping it, now or later; returns the probes attached. Throws
//       naming the function and file when one cannot be attached.
//   detachTls(handle) -> detaches every TLS probe (the Collector's `tls` source
//       was turned off: a uprobe traps on every call even when rows are
//       dropped); returns the probes detached.
//   watchFds(handle, Uint32Array) -> lists (tgid, fd) pairs, flat, as TCP
//       connections to adopt on their next read or write (socket_fds: the
//       connections open when the agent started); returns how many were
//       written (the map is an LRU: more than it holds push older ones out).
//   close(handle)     -> detaches and frees; safe to call twice.
// Batch-oriented on purpose: one call moves many records, no per-event callback
// into JavaScript. All calls must come from the thread that opened the handle.
#include <napi.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "socket_trace.h"
#include "socket_trace.skel.h"

namespace {

constexpr uint32_t kModeFull = 0;
constexpr uint32_t kModeBare = 1;
constexpr size_t kLibbpfLogMaxBytes = 16 * 1024;

// Names of the kernel `stats` array slots, in index order (socket_trace.h).
constexpr const char* kStatNames[WISP_STAT_COUNT] = {
    "ringbufFull",     "captureTruncated", "iovecTruncated",    "connMapFull",    "argsStashFailed",
    "readUserFailed",  "socketReadFailed", "staleConnections",  "connNotTraced",   "mmsgTruncated",
    "connAdopted",     "tlsFdUnknown",
};

// The uprobe programs of socket_trace.bpf.c and the OpenSSL function each one
// hooks (twin: the SEC("uprobe")/SEC("uretprobe") programs there).
struct TlsProbe {
  const char* program;
  const char* function;
  bool retprobe;
};
constexpr TlsProbe kTlsProbes[] = {
    {"ssl_write_enter", "SSL_write", false},       {"ssl_write_exit", "SSL_write", true},
    {"ssl_read_enter", "SSL_read", false},         {"ssl_read_exit", "SSL_read", true},
    {"ssl_write_ex_enter", "SSL_write_ex", false}, {"ssl_write_ex_exit", "SSL_write_ex", true},
    {"ssl_read_ex_enter", "SSL_read_ex", false},   {"ssl_read_ex_exit", "SSL_read_ex", true},
};

bool IsUprobeSection(const char* section) {
  return std::strncmp(section, "uprobe", 6) == 0 || std::strncmp(section, "uretprobe", 9) == 0;
}

// libbpf reports load/verifier problems through its print callback. Keep the
// tail of what the current open() produced so errors can carry it.
std::string g_libbpf_log;

int CollectLibbpfLog(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[1024];
  int n = vsnprintf(line, sizeof(line), format, args);
  if (n > 0) g_libbpf_log.append(line, std::min<size_t>(static_cast<size_t>(n), sizeof(line) - 1));
  if (g_libbpf_log.size() > kLibbpfLogMaxBytes) {
    g_libbpf_log.erase(0, g_libbpf_log.size() - kLibbpfLogMaxBytes);
  }
  return 0;
}

constexpr size_t Align8(size_t n) { return (n + 7) & ~static_cast<size_t>(7); }

std::string ErrnoText(int err) { return std::strerror(err < 0 ? -err : err); }

class Handle : public Napi::ObjectWrap<Handle> {
 public:
  static Napi::Function Define(Napi::Env env) { return DefineClass(env, "WispBpfHandle", {}); }

  explicit Handle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Handle>(info) {}
  ~Handle() override { Close(); }

  // Opens, configures, loads and attaches. Throws (C++ -> JS Error) on failure,
  // leaving nothing attached.
  void Open(Napi::Env env, uint32_t self_pid, uint32_t max_capture_bytes, uint32_t ring_buffer_bytes,
            uint32_t max_connections, uint32_t mode) {
    g_libbpf_log.clear();
    skel_ = socket_trace__open();
    if (!skel_) Fail(env, "open BPF object socket_trace: " + ErrnoText(errno));

    skel_->rodata->self_pid = self_pid;
    skel_->rodata->max_capture_bytes = max_capture_bytes;
    skel_->rodata->mode = mode;
    int ncpus = libbpf_num_possible_cpus();
    if (ncpus <= 0) Fail(env, "count possible CPUs: " + ErrnoText(ncpus));
    ncpus_ = static_cast<size_t>(ncpus);
    int err = bpf_map__set_max_entries(skel_->maps.events, ring_buffer_bytes);
    if (!err) err = bpf_map__set_max_entries(skel_->maps.scratch, static_cast<uint32_t>(ncpus));
    if (!err) err = bpf_map__set_max_entries(skel_->maps.conns, max_connections);
    if (err) Fail(env, "size BPF maps: " + ErrnoText(err));

    err = socket_trace__load(skel_);
    if (err) Fail(env, "load BPF programs of socket_trace: " + ErrnoText(err));

    struct bpf_program* prog;
    bpf_object__for_each_program(prog, skel_->obj) {
      // Uprobes need a target file: attached by AttachTls.
      if (IsUprobeSection(bpf_program__section_name(prog))) continue;
      struct bpf_link* link = bpf_program__attach(prog);
      if (!link) {
        int attach_err = errno;
        std::string section = bpf_program__section_name(prog);
        const std::string prefix = "tracepoint/";
        if (section.rfind(prefix, 0) == 0) section = "tracepoint " + section.substr(prefix.size());
        Fail(env, "attach " + section + ": " + ErrnoText(attach_err));
      }
      links_.push_back(link);
    }

    ring_ = ring_buffer__new(bpf_map__fd(skel_->maps.events), OnSample, this, nullptr);
    if (!ring_) Fail(env, "open ring buffer: " + ErrnoText(errno));
  }

  // Attaches every TLS probe to the ELF file at `path` (libbpf resolves the
  // function from its symbol tables). All or nothing: on failure the probes
  // attached so far are detached and the error names the function and file.
  size_t AttachTls(Napi::Env env, const std::string& path) {
    if (!skel_) throw Napi::Error::New(env, "attach TLS probes to " + path + ": handle is closed");
    std::vector<struct bpf_link*> attached;
    for (const TlsProbe& probe : kTlsProbes) {
      struct bpf_program* prog = bpf_object__find_program_by_name(skel_->obj, probe.program);
      LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = probe.retprobe, .func_name = probe.function);
      struct bpf_link* link =
          prog ? bpf_program__attach_uprobe_opts(prog, -1 /* every process */, path.c_str(), 0, &opts)
               : nullptr;
      if (!link) {
        int err = prog ? errno : ENOENT;
        for (struct bpf_link* l : attached) bpf_link__destroy(l);
        throw Napi::Error::New(env, std::string("attach ") + (probe.retprobe ? "uretprobe " : "uprobe ") +
                                        probe.function + " in " + path + ": " + ErrnoText(err));
      }
      attached.push_back(link);
    }
    tls_links_.insert(tls_links_.end(), attached.begin(), attached.end());
    tls_targets_++;
    return attached.size();
  }

  size_t WatchFds(const uint32_t* pairs, size_t count) {
    if (!skel_) return 0;
    const int map = bpf_map__fd(skel_->maps.socket_fds);
    const uint8_t kind = 2;  // SOCKET_FD_TCP in socket_trace.bpf.c
    size_t written = 0;
    for (size_t i = 0; i + 1 < count; i += 2) {
      const uint64_t key = (static_cast<uint64_t>(pairs[i]) << 32) | pairs[i + 1];
      // BPF_NOEXIST: an fd the kernel side already noted (a connected UDP socket) keeps its kind.
      if (bpf_map_update_elem(map, &key, &kind, BPF_NOEXIST) == 0) written++;
    }
    return written;
  }

  size_t DetachTls() {
    size_t n = tls_links_.size();
    for (struct bpf_link* link : tls_links_) bpf_link__destroy(link);
    tls_links_.clear();
    tls_targets_ = 0;
    return n;
  }

  // Copies whole records into out[0, capacity). Never throws.
  size_t Drain(uint8_t* out, size_t capacity) {
    out_ = out;
    capacity_ = capacity;
    used_ = 0;
    full_ = false;
    if (!ring_) return 0;
    if (!spill_.empty()) {
      if (Align8(spill_.size()) > capacity_) {
        // The caller's buffer is smaller than one record (SocketTracer refuses
        // such buffers): drop it rather than stall the ring forever.
        oversized_dropped_++;
        spill_.clear();
        return 0;
      }
      Append(spill_.data(), spill_.size());
      spill_.clear();
    }
    int n = ring_buffer__consume(ring_);
    if (n < 0 && !full_) consume_errors_++;
    bytes_drained_ += used_;
    return used_;
  }

  Napi::Object Counters(Napi::Env env) {
    Napi::Object result = Napi::Object::New(env);
    std::vector<uint64_t> per_cpu(ncpus_ == 0 ? 1 : ncpus_);
    for (uint32_t i = 0; i < WISP_STAT_COUNT; i++) {
      double sum = 0;
      if (skel_ && bpf_map__lookup_elem(skel_->maps.stats, &i, sizeof(i), per_cpu.data(),
                                        per_cpu.size() * sizeof(uint64_t), 0) == 0) {
        for (uint64_t v : per_cpu) sum += static_cast<double>(v);
      }
      result.Set(kStatNames[i], Napi::Number::New(env, sum));
    }
    result.Set("recordsDrained", Napi::Number::New(env, static_cast<double>(records_drained_)));
    result.Set("bytesDrained", Napi::Number::New(env, static_cast<double>(bytes_drained_)));
    result.Set("recordsSpilled", Napi::Number::New(env, static_cast<double>(records_spilled_)));
    result.Set("oversizedDropped", Napi::Number::New(env, static_cast<double>(oversized_dropped_)));
    result.Set("consumeErrors", Napi::Number::New(env, static_cast<double>(consume_errors_)));
    result.Set("connStatsTruncated", Napi::Number::New(env, static_cast<double>(conn_stats_truncated_)));
    result.Set("connStatsErrors", Napi::Number::New(env, static_cast<double>(conn_stats_errors_)));
    result.Set("tlsTargets", Napi::Number::New(env, static_cast<double>(tls_targets_)));
    return result;
  }

  // Copies the values of `conns` into out[0, capacity) with batch lookups (a
  // few syscalls per thousand connections, no per-entry call). Values are
  // read while the kernel updates them: each 64-bit counter is a consistent
  // snapshot, the pair is not. Never throws.
  size_t ConnStats(uint8_t* out, size_t capacity) {
    if (!skel_) return 0;
    const size_t value_size = bpf_map__value_size(skel_->maps.conns);
    const size_t max_entries = capacity / value_size;
    const int fd = bpf_map__fd(skel_->maps.conns);
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    uint64_t token = 0;  // hash maps use a u32 bucket index as the batch token
    bool first = true;
    size_t total = 0;
    for (;;) {
      if (total >= max_entries) {
        conn_stats_truncated_++;
        break;
      }
      __u32 count = static_cast<__u32>(std::min(kConnStatsBatch, max_entries - total));
      conn_keys_.resize(count);
      int err = bpf_map_lookup_batch(fd, first ? nullptr : &token, &token, conn_keys_.data(),
                                     out + total * value_size, &count, &opts);
      first = false;
      total += count;
      if (err == -ENOENT) break;  // walked the whole table
      if (err) {
        conn_stats_errors_++;
        break;
      }
    }
    return total;
  }

  void Close() {
    if (ring_) ring_buffer__free(ring_);
    ring_ = nullptr;
    DetachTls();
    for (struct bpf_link* link : links_) bpf_link__destroy(link);
    links_.clear();
    if (skel_) socket_trace__destroy(skel_);
    skel_ = nullptr;
    spill_.clear();
  }

 private:
  [[noreturn]] void Fail(Napi::Env env, const std::string& message) {
    std::string log = g_libbpf_log;
    Close();
    Napi::Error error = Napi::Error::New(env, message);
    if (!log.empty()) error.Set("libbpfLog", Napi::String::New(env, log));
    throw error;
  }

  void Append(const void* data, size_t size) {
    size_t padded = Align8(size);
    std::memcpy(out_ + used_, data, size);
    if (padded > size) std::memset(out_ + used_ + size, 0, padded - size);
    used_ += padded;
    records_drained_++;
  }

  // libbpf has already consumed the record when it calls us: a record that
  // does not fit goes to spill_ and is delivered first by the next Drain.
  static int OnSample(void* ctx, void* data, size_t sample_size) {
    Handle* self = static_cast<Handle*>(ctx);
    // TLS DATA records are written into a reservation of a size bucket: only
    // header.size bytes of the sample are meaningful.
    size_t size = sample_size;
    if (sample_size >= sizeof(wisp_record_header)) {
      size_t meaningful = static_cast<const wisp_record_header*>(data)->size;
      if (meaningful >= sizeof(wisp_record_header) && meaningful < sample_size) size = meaningful;
    }
    if (self->used_ + Align8(size) <= self->capacity_) {
      self->Append(data, size);
      return 0;
    }
    const uint8_t* bytes = static_cast<const uint8_t*>(data);
    self->spill_.assign(bytes, bytes + size);
    self->records_spilled_++;
    self->full_ = true;
    return -ENOSPC;  // stop consuming: the caller's buffer is full
  }

  struct socket_trace* skel_ = nullptr;
  struct ring_buffer* ring_ = nullptr;
  std::vector<struct bpf_link*> links_;
  std::vector<struct bpf_link*> tls_links_;  // AttachTls, detached apart by DetachTls
  std::vector<uint8_t> spill_;
  size_t ncpus_ = 0;

  uint8_t* out_ = nullptr;
  size_t capacity_ = 0;
  size_t used_ = 0;
  bool full_ = false;

  uint64_t records_drained_ = 0;
  uint64_t bytes_drained_ = 0;
  uint64_t records_spilled_ = 0;
  uint64_t oversized_dropped_ = 0;
  uint64_t consume_errors_ = 0;

  static constexpr size_t kConnStatsBatch = 1024;
  std::vector<uint64_t> conn_keys_;
  uint64_t conn_stats_truncated_ = 0;
  uint64_t conn_stats_errors_ = 0;
  uint64_t tls_targets_ = 0;
};

uint32_t RequireUint(Napi::Object options, const char* name, uint32_t min, uint32_t max) {
  Napi::Value value = options.Get(name);
  if (!value.IsNumber()) {
    throw Napi::TypeError::New(options.Env(), std::string("read option ") + name + ": not a number");
  }
  double d = value.As<Napi::Number>().DoubleValue();
  if (!(d >= min && d <= max) || d != static_cast<double>(static_cast<uint32_t>(d))) {
    throw Napi::RangeError::New(options.Env(), std::string("read option ") + name + ": " +
                                                   std::to_string(d) + " is not an integer in [" +
                                                   std::to_string(min) + ", " +
                                                   std::to_string(max) + "]");
  }
  return static_cast<uint32_t>(d);
}

class WispBpf : public Napi::Addon<WispBpf> {
 public:
  WispBpf(Napi::Env env, Napi::Object exports) {
    libbpf_set_print(CollectLibbpfLog);
    handle_class_ = Napi::Persistent(Handle::Define(env));
    DefineAddon(exports, {
                              InstanceMethod("open", &WispBpf::Open),
                              InstanceMethod("drain", &WispBpf::Drain),
                              InstanceMethod("counters", &WispBpf::Counters),
                              InstanceMethod("connStats", &WispBpf::ConnStats),
                              InstanceMethod("attachTls", &WispBpf::AttachTls),
                              InstanceMethod("detachTls", &WispBpf::DetachTls),
                              InstanceMethod("watchFds", &WispBpf::WatchFds),
                              InstanceMethod("close", &WispBpf::Close),
                          });
    exports.Set("maxCaptureBytesLimit", Napi::Number::New(env, WISP_MAX_CAPTURE_BYTES));
  }

 private:
  Handle* HandleOf(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsObject() ||
        !info[0].As<Napi::Object>().InstanceOf(handle_class_.Value())) {
      throw Napi::TypeError::New(info.Env(), "unwrap handle: not a handle returned by open()");
    }
    return Handle::Unwrap(info[0].As<Napi::Object>());
  }

  Napi::Value Open(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) {
      throw Napi::TypeError::New(env, "read options: expected an object");
    }
    Napi::Object options = info[0].As<Napi::Object>();
    uint32_t self_pid = RequireUint(options, "selfPid", 0, 0x7fffffff);
    uint32_t max_capture = RequireUint(options, "maxCaptureBytes", 0, WISP_MAX_CAPTURE_BYTES);
    uint32_t ring_bytes = RequireUint(options, "ringBufferBytes", 4096, 1u << 30);
    uint32_t max_connections = RequireUint(options, "maxConnections", 1, 1u << 24);
    uint32_t mode = RequireUint(options, "mode", kModeFull, kModeBare);
    if ((ring_bytes & (ring_bytes - 1)) != 0) {
      throw Napi::RangeError::New(env, "read option ringBufferBytes: " + std::to_string(ring_bytes) +
                                           " is not a power of two");
    }
    Napi::Object object = handle_class_.New({});
    Handle::Unwrap(object)->Open(env, self_pid, max_capture, ring_bytes, max_connections, mode);
    return object;
  }

  Napi::Value Drain(const Napi::CallbackInfo& info) {
    Handle* handle = HandleOf(info);
    if (info.Length() < 2 || !info[1].IsTypedArray() ||
        info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throw Napi::TypeError::New(info.Env(), "drain: expected a Uint8Array buffer");
    }
    Napi::Uint8Array buffer = info[1].As<Napi::Uint8Array>();
    size_t n = handle->Drain(buffer.Data(), buffer.ByteLength());
    return Napi::Number::New(info.Env(), static_cast<double>(n));
  }

  Napi::Value Counters(const Napi::CallbackInfo& info) { return HandleOf(info)->Counters(info.Env()); }

  Napi::Value ConnStats(const Napi::CallbackInfo& info) {
    Handle* handle = HandleOf(info);
    if (info.Length() < 2 || !info[1].IsTypedArray() ||
        info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throw Napi::TypeError::New(info.Env(), "connStats: expected a Uint8Array buffer");
    }
    Napi::Uint8Array buffer = info[1].As<Napi::Uint8Array>();
    size_t n = handle->ConnStats(buffer.Data(), buffer.ByteLength());
    return Napi::Number::New(info.Env(), static_cast<double>(n));
  }

  Napi::Value AttachTls(const Napi::CallbackInfo& info) {
    Handle* handle = HandleOf(info);
    if (info.Length() < 2 || !info[1].IsString()) {
      throw Napi::TypeError::New(info.Env(), "attachTls: expected a file path string");
    }
    size_t n = handle->AttachTls(info.Env(), info[1].As<Napi::String>().Utf8Value());
    return Napi::Number::New(info.Env(), static_cast<double>(n));
  }

  Napi::Value WatchFds(const Napi::CallbackInfo& info) {
    Handle* handle = HandleOf(info);
    if (info.Length() < 2 || !info[1].IsTypedArray() ||
        info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
      throw Napi::TypeError::New(info.Env(), "watchFds: expected a Uint32Array of (tgid, fd) pairs");
    }
    Napi::Uint32Array pairs = info[1].As<Napi::Uint32Array>();
    size_t n = handle->WatchFds(pairs.Data(), pairs.ElementLength());
    return Napi::Number::New(info.Env(), static_cast<double>(n));
  }

  Napi::Value DetachTls(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(HandleOf(info)->DetachTls()));
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    HandleOf(info)->Close();
    return info.Env().Undefined();
  }

  Napi::FunctionReference handle_class_;
};

}  // namespace

NODE_API_ADDON(WispBpf)
