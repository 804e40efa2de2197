#!/usr/bin/env bash
# Runs the whole test suite (CPU). Sets up what the machine lacks first (see scripts/setup.sh).
# Arguments go to `dotnet test`, e.g. ./test.sh --filter "FullyQualifiedName~Engine".
set -euo pipefail
source "$(dirname "$0")/scripts/help.sh"
cd "$(dirname "$0")"
ALISA_SETUP_REDIS=1 ALISA_SETUP_HELM=1 bash scripts/setup.sh
dotnet test AlisaCluster.sln -c Release "$@"
