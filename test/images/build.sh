#!/usr/bin/env bash
# Builds Skiff's test images without Docker (make images):
#   test/images/out/testapp.tar  docker.io/skiff/testapp:v1 and :v2
#   test/images/out/shell.tar    docker.io/skiff/shell:v1
#   test/images/out/demo.tar     docker.io/skiff/mysql:v1, docker.io/skiff/blog:v1 and :v2
#                                (the blog + MySQL tutorial; DEMO=0 skips them)
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
demo_flags=()
if [ "${DEMO:-1}" != 0 ]; then
  # The demo apps live in a nested Go module (test/images/demo/go.mod) so
  # go-mysql-server never enters Skiff's own module. The first build compiles
  # it and takes a few minutes on 2 cores; later builds come from the cache.
  echo "==> building static demo binaries (module test/images/demo)"
  outabs=$(cd "$out" && pwd)
  for b in mysqld:mysql: blog-v1:blog:v1 blog-v2:blog:v2; do
    IFS=: read -r name pkg version <<<"$b"
    echo "  -> $out/$name"
    ldflags="-s -w${version:+ -X main.version=$version}"
    (cd test/images/demo && CGO_ENABLED=0 go build -trimpath -ldflags="$ldflags" -o "$outabs/$name" "./$pkg")
  done
  demo_flags=(--mysql "$out/mysqld" --blog-v1 "$out/blog-v1" --blog-v2 "$out/blog-v2")
fi
echo "==> packing OCI archives"
go run ./test/images/pack --testapp "$out/testapp" --busybox "$busybox" --out "$out" "${demo_flags[@]}"
