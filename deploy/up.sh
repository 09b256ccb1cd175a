#!/usr/bin/env bash
# Brings up a single-machine Skiff cluster: `skiff server` (embedded etcd,
# controllers, scheduler) and, when this build has it, `skiff agent` for this
# node. Uses systemd when it runs as PID 1, otherwise supervised background
# processes with logs under /var/log/skiff. `make down` undoes all of it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
log() { printf '[skiff up] %s\n' "$*" >&2; }
[ "$(id -u)" = 0 ] || { echo "make up must run as root (sudo make up)" >&2; exit 1; }

./deploy/install-deps.sh
log "building skiff"
go build -o bin/skiff ./cmd/skiff
install -m 0755 bin/skiff /usr/local/bin/skiff
# Drop the freshly written executable from the page cache, so the daemons
# map only what they use, as after a reboot (see bench/run-pods.sh).
dd if=/usr/local/bin/skiff iflag=nocache count=0 status=none 2>/dev/null || true
mkdir -p /etc/skiff /var/log/skiff /var/lib/skiff /run/skiff

has_cmd() { local h; h=$(/usr/local/bin/skiff help 2>&1); grep -qE "^  $1 " <<<"$h"; }
use_systemd() { [ "$(ps -p 1 -o comm= 2>/dev/null)" = systemd ]; }

start() { # name args...
  local name=$1; shift
  if use_systemd; then
    install -m 0644 "deploy/systemd/skiff-$name.service" /etc/systemd/system/
    systemctl daemon-reload && systemctl enable --now "skiff-$name"
  else
    if [ -f "/run/skiff/$name.pid" ] && kill -0 "$(cat "/run/skiff/$name.pid")" 2>/dev/null; then
      log "$name already running (pid $(cat "/run/skiff/$name.pid"))"; return
    fi
    setsid /usr/local/bin/skiff "$name" "$@" </dev/null >>"/var/log/skiff/$name.log" 2>&1 &
    echo $! > "/run/skiff/$name.pid"
    log "started skiff $name (pid $!, log /var/log/skiff/$name.log)"
  fi
}

node_ip=$(ip -4 route get 1.1.1.1 2>/dev/null | awk '{for(i=1;i<NF;i++) if($i=="src"){print $(i+1); exit}}')
node_ip=${node_ip:-127.0.0.1}

echo "SKIFF_SERVER_ARGS=" > /etc/default/skiff-server
start server --data-dir /var/lib/skiff/server
log "waiting for the API server"
for i in $(seq 120); do
  if [ -f /var/lib/skiff/server/admin.kubeconfig ] &&
     kubectl --kubeconfig /var/lib/skiff/server/admin.kubeconfig get --raw /readyz >/dev/null 2>&1; then break; fi
  [ "$i" = 120 ] && { echo "skiff server not ready after 120s; see /var/log/skiff/server.log" >&2; exit 1; }
  sleep 1
done
install -m 0600 /var/lib/skiff/server/admin.kubeconfig /etc/skiff/admin.kubeconfig
log "API server ready"

if has_cmd agent; then
  log "building the tutorial and test images (make images)"
  if ./test/images/build.sh >/var/log/skiff/images.log 2>&1; then
    /usr/local/bin/skiff image import test/images/out/*.tar --data-dir /var/lib/skiff/agent >/dev/null ||
      log "warning: importing test/images/out/*.tar failed; import them later with: skiff image import FILE.tar --data-dir /var/lib/skiff/agent"
  else
    log "warning: building the images failed (see /var/log/skiff/images.log); pods need images from a registry"
  fi
  name=$(hostname -s)
  token=$(/usr/local/bin/skiff token create --data-dir /var/lib/skiff/server)
  cat > /etc/default/skiff-agent <<EOT
SKIFF_SERVER=https://127.0.0.1:6443
SKIFF_TOKEN=$token
SKIFF_NODE_NAME=$name
SKIFF_NODE_IP=$node_ip
EOT
  start agent --server https://127.0.0.1:6443 --token "$token" --node-name "$name" --node-ip "$node_ip" --data-dir /var/lib/skiff/agent
fi

cat <<EOT

Skiff is up. Use it with the stock kubectl:

  export KUBECONFIG=/etc/skiff/admin.kubeconfig
  kubectl get nodes,pods -A

Try the tutorial (a blog and its MySQL database in namespace demo): docs/TUTORIAL.md
Logs: /var/log/skiff/ (or journalctl -u skiff-server). Remove everything: make down
EOT
