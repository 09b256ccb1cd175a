#!/usr/bin/env bash
# Runs Skiff's test tiers. Usage: test/run.sh [all|unit|privileged|e2e]
# `all` (what `make test` and CI run) installs dependencies first.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
tier=${1:-all}
step() { printf '\n==> %s\n' "$*"; }

if [ "$tier" = all ]; then
  step "installing dependencies"
  ./deploy/install-deps.sh
  step "lint: gofmt + go vet"
  make -s lint
  step "generated BPF files are current"
  make -s check-generated
  step "build"
  make -s build
fi

if [ "$tier" = all ] || [ "$tier" = unit ]; then
  step "tier 1: unit tests (go test ./...)"
  env -u SKIFF_PRIVILEGED -u SKIFF_E2E go test -count=1 -timeout 15m ./...
  step "tier 1: the tutorial's demo apps (nested module test/images/demo)"
  (cd test/images/demo && go vet ./... && go test -count=1 -timeout 5m ./...)
fi

if [ "$tier" = all ] || [ "$tier" = privileged ]; then
  step "tier 2: privileged tests (BPF_PROG_TEST_RUN, netns)"
  mount | grep -q ' /sys/fs/bpf type bpf' || mount -t bpf bpf /sys/fs/bpf
  SKIFF_PRIVILEGED=1 go test -count=1 -p 1 -timeout 20m -run '^TestPrivileged' ./...
fi

if [ "$tier" = all ] || [ "$tier" = e2e ]; then
  step "tier 3: end-to-end tests (netns testbed, real kubectl)"
  SKIFF_PRIVILEGED=1 SKIFF_E2E=1 go test -count=1 -p 1 -timeout 25m -run '^TestE2E' ./test/...
fi
step "all requested tiers passed"
