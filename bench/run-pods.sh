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
exec bin/skiff bench-pods "$@"
