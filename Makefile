# Skiff — run `make help` for the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin/skiff
export PATH := /usr/local/go/bin:$(PATH)
export BPF_CLANG ?= clang-16
export BPF_STRIP ?= llvm-strip-16

.DEFAULT_GOAL := help
.PHONY: help deps generate check-generated build test test-unit test-privileged test-e2e bench bench-control bench-pods images up down demo lint

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-16s %s\n", $$1, $$2}'

deps: ## install build/test dependencies (apt packages, bpffs, Go modules); idempotent, needs root
	./deploy/install-deps.sh

generate: ## compile bpf/ C with clang-16 and regenerate the bpf2go Go bindings
	$(GO) generate ./bpf/...

check-generated: generate ## regenerate and fail if committed generated files differ
	@if [ -n "$$(git status --porcelain -- bpf/)" ]; then \
	  echo "generated BPF files are stale; run 'make generate' and commit:"; git status --porcelain -- bpf/; exit 1; fi
	@echo "generated BPF files are current"

build: ## build bin/skiff
	$(GO) build -o $(BIN) ./cmd/skiff

lint: ## gofmt and go vet
	@bad=$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null); if [ -n "$$bad" ]; then echo "gofmt needed: $$bad"; exit 1; fi
	$(GO) vet ./...

test: ## run every test tier (installs deps; needs root): lint, unit, privileged, e2e
	./test/run.sh all

test-unit: ## unprivileged Go tests only
	./test/run.sh unit

test-privileged: ## TestPrivileged* tests (BPF_PROG_TEST_RUN, netns); needs root
	./test/run.sh privileged

test-e2e: ## multi-node netns testbed end-to-end tests; needs root
	./test/run.sh e2e

bench: build ## eBPF dataplane vs direct/iptables/nftables (BENCH_N, BENCH_REPS); needs root
	./bench/run.sh

bench-control: build ## control plane benchmark with hollow nodes
	./bench/run-control.sh

bench-pods: build ## pod start latency and agent RSS for 30 pods on one real node; needs root
	./bench/run-pods.sh

images: build ## build Skiff's test images from static binaries (no Docker)
	./test/images/build.sh

demo: build ## dataplane demo: a ClusterIP balancing across backends in network namespaces
	$(BIN) dev demo

up: build ## bring up a local Skiff cluster on this machine; needs root
	./deploy/up.sh

down: ## remove everything `make up` created
	./deploy/down.sh
