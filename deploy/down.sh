#!/usr/bin/env bash
# Removes everything `make up` created: daemons, state, pods' network
# namespaces and veths, bpffs pins and the admin kubeconfig.
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
# The agent's own containerd and any pod processes it left.
pkill -f '/var/lib/skiff/agent/containerd' 2>/dev/null
for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^skiff-/ {print $1}'); do ip netns del "$ns"; done
for l in $(ip -o link show 2>/dev/null | awk -F': ' '$2 ~ /^skp/ {split($2,a,"@"); print a[1]}'); do ip link del "$l" 2>/dev/null; done
rm -rf /sys/fs/bpf/skiff /var/lib/skiff /etc/skiff /etc/default/skiff-server /etc/default/skiff-agent /run/skiff
log "removed Skiff state; logs kept in /var/log/skiff"
