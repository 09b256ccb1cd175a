#!/usr/bin/env bash
# `make bench-control`: the control-plane benchmark with hollow nodes (no
# containers, no root needed). Environment: BENCH_NODES (100),
# BENCH_DEPLOYMENTS (1000), BENCH_REPLICAS (10), BENCH_OUT
# (bench/results/control-latest.json).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x bin/skiff ] || go build -o bin/skiff ./cmd/skiff
# Start from the executable's pages as a node has them after a reboot or an
# install: read back from disk on demand, not the whole file that \`go build\`
# just wrote (the kernel keeps that in large folios and maps them whole,
# which adds ~25 MiB of file-backed RSS to every skiff process).
dd if=bin/skiff iflag=nocache count=0 status=none 2>/dev/null || true
exec bin/skiff bench-control "$@"
