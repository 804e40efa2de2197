#!/usr/bin/env bash
# The main job on the embedded default: generates a completion from the bundled tiny model.
# Any arguments go to the CLI, e.g. ./run.sh generate --prompt "In the beginning" --max-tokens 80
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
[ $# -gt 0 ] || set -- generate
dotnet run --project src/Cli -c Release -- "$@"
