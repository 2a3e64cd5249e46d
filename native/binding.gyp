# node-gyp build of the addon (wisp_bpf.node). Run `make -C native bpf` first:
# the addon includes out/socket_trace.skel.h, which embeds the eBPF object.
# Links Debian's libbpf (libbpf-dev 1.1) dynamically.
{
  "targets": [
    {
      "target_name": "wisp_bpf",
      "sources": ["addon/wisp_bpf.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "out",
        "bpf"
      ],
      "defines": ["NAPI_VERSION=9", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++20", "-fexceptions", "-Wall", "-Wextra", "-Wno-missing-field-initializers"],
      "libraries": ["-lbpf", "-lelf", "-lz"]
    }
  ]
}
