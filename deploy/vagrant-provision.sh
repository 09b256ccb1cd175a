#!/usr/bin/env bash
# Vagrant provisioner: ROLE NAME IP SERVER_IP. Installs Go if missing, builds
# Skiff from /skiff and starts it under systemd. Agents read the join token
# the server left in the synced folder.
set -euo pipefail
role=$1 name=$2 ip=$3 server_ip=$4
cd /skiff
if ! command -v go >/dev/null && [ ! -x /usr/local/go/bin/go ]; then
  apt-get update -qq && apt-get install -y -qq golang-go
fi
export PATH=/usr/local/go/bin:$PATH
./deploy/install-deps.sh
make build
install -m 0755 bin/skiff /usr/local/bin/skiff
# Drop the freshly written executable from the page cache, so the daemons
# map only what they use, as after a reboot (see bench/run-pods.sh).
dd if=/usr/local/bin/skiff iflag=nocache count=0 status=none 2>/dev/null || true
install -m 0644 deploy/systemd/skiff-"$role".service /etc/systemd/system/
if [ "$role" = server ]; then
  echo "SKIFF_SERVER_ARGS=--bind-address $ip --advertise-address $ip" > /etc/default/skiff-server
  systemctl daemon-reload && systemctl enable --now skiff-server
  for i in $(seq 60); do [ -f /var/lib/skiff/server/admin.kubeconfig ] && break; sleep 1; done
  skiff token create --data-dir /var/lib/skiff/server > /skiff/.vagrant-token
  mkdir -p /etc/skiff && cp /var/lib/skiff/server/admin.kubeconfig /etc/skiff/admin.kubeconfig
else
  cat > /etc/default/skiff-agent <<EOT
SKIFF_SERVER=https://$server_ip:6443
SKIFF_TOKEN=$(cat /skiff/.vagrant-token)
SKIFF_NODE_NAME=$name
SKIFF_NODE_IP=$ip
EOT
  systemctl daemon-reload && systemctl enable --now skiff-agent
fi
