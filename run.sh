#!/usr/bin/env bash
# The main job on the embedded default: starts a single-node dev cluster (silo + gRPC gateway, the bundled tiny
# model) and streams a completion through the gateway (see docs/cluster.md).
# Any arguments go to the CLI, e.g. ./run.sh generate --prompt "In the beginning" --max-tokens 80
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
[ $# -gt 0 ] || set -- demo
dotnet run --project src/Cli -c Release -- "$@"
