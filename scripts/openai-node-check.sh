#!/usr/bin/env bash
# Serves the dev cluster (./run.sh demo --serve: HTTP 8080, gRPC 50051) and runs tests/openai-node/check.mjs, the
# official openai npm SDK against the gateway's OpenAI-compatible API, checked against gRPC Generate.
set -euo pipefail
source "$(dirname "$0")/help.sh"
cd "$(dirname "$0")/.."
(cd tests/openai-node && npm install --no-audit --no-fund --no-package-lock)
dotnet build src/Cli -c Release
log=$(mktemp)
dotnet run --project src/Cli -c Release --no-build -- demo --serve >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 90); do
  curl -sf http://127.0.0.1:8080/health/ready >/dev/null && break
  kill -0 $server 2>/dev/null || { cat "$log"; exit 1; }
  sleep 2
done
node tests/openai-node/check.mjs
