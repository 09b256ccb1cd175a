#!/usr/bin/env bash
# Builds Skiff's test images without Docker (make images):
#   test/images/out/testapp.tar  docker.io/skiff/testapp:v1 and :v2
#   test/images/out/shell.tar    docker.io/skiff/shell:v1
# Import them with: skiff image import test/images/out/testapp.tar
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=/usr/local/go/bin:$PATH
out=test/images/out
busybox=${BUSYBOX:-/bin/busybox}
mkdir -p "$out"
if [ ! -x "$busybox" ]; then
  echo "build.sh: $busybox not found; install Debian's busybox-static (make deps)" >&2
  exit 1
fi
echo "==> building static testapp"
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$out/testapp" ./test/images/testapp
echo "==> packing OCI archives"
go run ./test/images/pack --testapp "$out/testapp" --busybox "$busybox" --out "$out"
