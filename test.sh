#!/usr/bin/env bash
# Runs the whole test suite (CPU). Sets up what the machine lacks first (see scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")"
ALISA_SETUP_REDIS=1 ALISA_SETUP_HELM=1 bash scripts/setup.sh
dotnet test AlisaCluster.sln -c Release "$@"
