#!/usr/bin/env bash
# Starts Redis for a dev cluster (docs/cluster.md) with AOF persistence, so keys, sessions and the Orleans membership
# table survive a Redis restart: every write is appended to .redis/appendonly* and fsynced each second.
#   scripts/dev-redis.sh [PORT]          (REDIS_PASSWORD=... to require AUTH; then Cluster:Redis "localhost:PORT,password=...")
set -euo pipefail
source "$(dirname "$0")/help.sh"
cd "$(dirname "$0")/.."
port="${1:-6379}"
mkdir -p .redis
args=(--port "$port" --bind 127.0.0.1 --dir "$PWD/.redis" --appendonly yes --appendfsync everysec --save '')
if [ -n "${REDIS_PASSWORD:-}" ]; then args+=(--requirepass "$REDIS_PASSWORD"); fi
exec redis-server "${args[@]}"
