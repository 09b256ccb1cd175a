#!/usr/bin/env bash
# Removes everything `make up` created: daemons, state, pods' network
# namespaces and veths, bpffs pins, cgroups and the admin kubeconfig.
set -uo pipefail
log() { printf '[skiff down] %s\n' "$*" >&2; }
[ "$(id -u)" = 0 ] || { echo "make down must run as root (sudo make down)" >&2; exit 1; }
for name in agent server; do
  if [ "$(ps -p 1 -o comm= 2>/dev/null)" = systemd ] && systemctl list-unit-files "skiff-$name.service" >/dev/null 2>&1; then
    systemctl disable --now "skiff-$name" 2>/dev/null; rm -f "/etc/systemd/system/skiff-$name.service"
  fi
  if [ -f "/run/skiff/$name.pid" ]; then
    pid=$(cat "/run/skiff/$name.pid")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    for i in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$pid" 2>/dev/null; rm -f "/run/skiff/$name.pid"
    log "stopped skiff $name"
  fi
done
# Every container the agent's runc knows about (works even if its shim died).
for root in /var/lib/skiff/agent/containerd/runc/*/; do
  [ -d "$root" ] || continue
  for id in $(runc --root "$root" list -q 2>/dev/null); do runc --root "$root" delete --force "$id" 2>/dev/null; done
done
# The agent's containerd, its shims and the containers they run.
for pid in $(pgrep -f 'containerd-shim.*-namespace skiff' 2>/dev/null); do
  pkill -KILL -P "$pid" 2>/dev/null; kill -KILL "$pid" 2>/dev/null
done
pkill -KILL -f '/var/lib/skiff/agent/containerd' 2>/dev/null
sleep 0.5
# Container root filesystems and pod volumes still mounted under the state dir.
for m in $(awk '$2 ~ "^/var/lib/skiff" {print $2}' /proc/mounts | sort -r); do umount -l "$m" 2>/dev/null; done
for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^skiff-/ {print $1}'); do ip netns del "$ns"; done
for l in $(ip -o link show 2>/dev/null | awk -F': ' '$2 ~ /^skp/ {split($2,a,"@"); print a[1]}'); do ip link del "$l" 2>/dev/null; done
ip link del skiffdns0 2>/dev/null # node-local DNS (dns/nodelocal)
# containerd's parent cgroup for the "skiff" namespace, in every hierarchy,
# and containers' cgroups left below it; rmdir refuses any that still holds
# a process.
for p in /sys/fs/cgroup/*/skiff; do
  [ -d "$p" ] && find "$p" -depth -type d -exec rmdir {} \; 2>/dev/null
done
rm -rf /sys/fs/bpf/skiff /var/lib/skiff /etc/skiff /etc/default/skiff-server /etc/default/skiff-agent /run/skiff
log "removed Skiff state; logs kept in /var/log/skiff"
