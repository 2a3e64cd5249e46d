# syntax=docker/dockerfile:1
# One image for both roles: `wisp operator` (Deployment, config/manager) and
# `wisp agent` (DaemonSet, rendered by the operator).
#
#   docker build -t wisp:0.1.0 .            # then: kind load docker-image wisp:0.1.0
#
# The eBPF object is CO-RE: compiled once against a vmlinux.h and relocated at
# load time on each node, so the build host's kernel does not have to match the
# nodes'. vmlinux.h comes from the build host's /sys/kernel/btf/vmlinux (visible
# inside `docker build` on Linux); elsewhere pass a BTF file with
# --build-arg VMLINUX_BTF=/path/inside/the/context.
#
# Privileges: the image runs as a non-root user (65532) by default, which is all
# the operator needs. The agent DaemonSet overrides runAsUser to 0 and adds only
# the capabilities it uses (CAP_BPF, CAP_PERFMON, ...), each justified in the
# DaemonSet the operator renders; nothing in the image is setuid.

ARG NODE_IMAGE=node:24-bookworm
ARG NODE_RUNTIME_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
ARG VMLINUX_BTF=/sys/kernel/btf/vmlinux
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool make g++ python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY native/ native/
RUN make -C native bpf VMLINUX_BTF=${VMLINUX_BTF} \
 && cd native && npx node-gyp rebuild --nodedir=/usr/local
COPY tsconfig.json ./
COPY src/ src/
RUN npx tsc -p tsconfig.json && chmod +x dist/cli/main.js \
 && npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_RUNTIME_IMAGE}
# Run-time libraries of the addon (libbpf loads the embedded eBPF object).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libbpf1 libelf1 zlib1g \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# The addon is found relative to dist/ (../../../native/build/Release from dist/agent/bpf).
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules/ node_modules/
COPY --from=build /src/dist/ dist/
COPY --from=build /src/native/build/Release/wisp_bpf.node native/build/Release/wisp_bpf.node
USER 65532:65532
ENV NODE_ENV=production
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["--help"]
