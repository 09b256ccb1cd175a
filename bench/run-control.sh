#!/usr/bin/env bash
# `make bench-control`: the control-plane benchmark with hollow nodes (no
# containers, no root needed). Environment: BENCH_NODES (100),
# BENCH_DEPLOYMENTS (1000), BENCH_REPLICAS (10), BENCH_OUT
# (bench/results/control-latest.json).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x bin/skiff ] || go build -o bin/skiff ./cmd/skiff
exec bin/skiff bench-control "$@"
