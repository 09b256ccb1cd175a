#!/usr/bin/env bash
# `make bench-pods`: pod start latency (create -> Running/Ready, p50/p99) and
# agent RSS for BENCH_PODS (30) pods on one real node. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "make bench-pods needs root (containers, network namespaces, BPF): run 'sudo make bench-pods'" >&2
  exit 1
fi
[ -x bin/skiff ] || go build -o bin/skiff ./cmd/skiff
[ -f test/images/out/testapp.tar ] || ./test/images/build.sh
# Start from the executable's pages as a node has them after a reboot or an
# install: read back from disk on demand, not the whole file that \`go build\`
# just wrote (the kernel keeps that in large folios and maps them whole,
# which adds ~25 MiB of file-backed RSS to every skiff process).
dd if=bin/skiff iflag=nocache count=0 status=none 2>/dev/null || true
exec bin/skiff bench-pods "$@"
