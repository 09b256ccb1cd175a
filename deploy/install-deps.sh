#!/usr/bin/env bash
# Installs everything Skiff's build, tests and local cluster need on Debian 12.
# Idempotent: packages already present are not reinstalled; bpffs is mounted
# if absent. Run as root.
set -euo pipefail

PKGS=(
  clang-16 llvm-16 libbpf-dev bpftool make gcc
  iproute2 iptables nftables conntrack iputils-ping ethtool
  iperf3 wrk dnsutils dnsperf
  containerd runc busybox-static ca-certificates curl wget bsdutils python3
)

log() { printf '[skiff deps] %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
  echo "install-deps: must run as root (try: sudo make deps)" >&2
  exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${#missing[@]} apt packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  log "apt packages installed"
else
  log "all ${#PKGS[@]} apt packages present"
fi

if ! command -v go >/dev/null 2>&1; then
  if [ -x /usr/local/go/bin/go ]; then
    log "go found at /usr/local/go/bin (add it to PATH)"
  else
    echo "install-deps: Go 1.26+ is required: install it to /usr/local/go first" >&2
    exit 1
  fi
fi

if ! mount | grep -q ' /sys/fs/bpf type bpf'; then
  log "mounting bpffs at /sys/fs/bpf"
  mkdir -p /sys/fs/bpf
  mount -t bpf bpf /sys/fs/bpf
fi

# Kernel modules the dataplane and testbed use; absent ones are fine when built in.
for m in vxlan veth br_netfilter nf_conntrack; do modprobe "$m" 2>/dev/null || true; done

log "downloading Go modules"
GOFLAGS=-mod=mod go mod download
log "dependencies ready"
