#!/usr/bin/env bash
# `make bench`: the dataplane benchmark (direct, Skiff eBPF, iptables legacy
# and nft, nftables). Environment: BENCH_N (e.g. 1,1000,10000,100000),
# BENCH_REPS, BENCH_CONN_TIME, BENCH_LATENCY_TIME, BENCH_STREAM_TIME,
# BENCH_LOAD_TIMEOUT, BENCH_RELOAD_MAX, BENCH_OUT. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "make bench needs root (network namespaces, iptables, BPF): run 'sudo make bench'" >&2
  exit 1
fi
for tool in ip iptables-legacy-restore iptables-nft-restore nft; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: run 'make deps' first" >&2; exit 1; }
done
[ -x bin/skiff ] || go build -o bin/skiff ./cmd/skiff
exec bin/skiff bench "$@"
