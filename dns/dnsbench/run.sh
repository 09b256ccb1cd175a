#!/bin/sh
# Measure Skiff's cluster DNS with dnsperf: QPS for cluster names, QPS for
# cached external names, and memory for 10 000 services.
# Usage: dns/dnsbench/run.sh [-services N] [-duration 10s] [-clients 20] [-threads 1]
set -eu
cd "$(dirname "$0")/../.."
command -v dnsperf >/dev/null || { echo "dnsperf missing: apt-get install dnsperf" >&2; exit 1; }
go build -o /tmp/skiff-dnsbench ./dns/dnsbench
exec /tmp/skiff-dnsbench "$@"
