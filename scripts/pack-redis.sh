#!/usr/bin/env bash
# pack-redis.sh [DEST]: copies this machine's redis-server and the shared libraries it needs beyond glibc into DEST
# (default .gpu/redis: redis-server, lib/), for a machine that has no Redis and cannot install one (the GPU machine;
# scripts/two-gpu-cluster.sh --redis-server .gpu/redis/redis-server puts lib/ on LD_LIBRARY_PATH).
set -euo pipefail
source "$(dirname "$0")/help.sh"
cd "$(dirname "$0")/.."
dest=${1:-.gpu/redis}
server=$(command -v redis-server) || { echo "pack-redis: no redis-server here (apt-get install redis-server)" >&2; exit 1; }
mkdir -p "$dest/lib"
cp "$server" "$dest/redis-server"
# glibc's own libraries must be the target's; everything else travels
ldd "$server" | awk '$3 ~ /^\// {print $3}' \
  | grep -Ev '/(libc|libm|libdl|libpthread|librt|ld-linux[^/]*)\.so' | while read -r lib; do cp -L "$lib" "$dest/lib/"; done
"$dest/redis-server" --version
echo "pack-redis: $(du -sh "$dest" | cut -f1) in $dest"
