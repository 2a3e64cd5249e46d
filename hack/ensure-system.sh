#!/usr/bin/env bash
# Install the Debian packages Wisp builds and tests with, and mount tracefs and
# bpffs when missing. Idempotent; the package step runs only when one is absent.
set -euo pipefail
packages=(clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool make g++ python3 pkg-config
          curl nginx-light wrk procps iproute2 postgresql mariadb-server socat
          prometheus redis-server redis-tools dnsmasq-base dnsutils openssl libssl-dev gcc)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "ensure-system: missing Debian packages (${missing[*]}); run as root or install them" >&2; exit 1
  fi
  echo "ensure-system: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # nginx-light starts a system nginx on port 80 via the package scripts; tests run their own.
  systemctl stop nginx 2>/dev/null || service nginx stop 2>/dev/null || pkill -x nginx 2>/dev/null || true
  # prometheus likewise starts a system instance on :9090; export tests run their own.
  systemctl stop prometheus 2>/dev/null || service prometheus stop 2>/dev/null || true
fi
if [[ $(id -u) -eq 0 ]]; then
  mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
  mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
fi
