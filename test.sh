#!/usr/bin/env bash
# Runs the whole test suite (CPU). Sets up what the machine lacks first (see scripts/setup.sh).
# Arguments go to `dotnet test`, e.g. ./test.sh --filter "FullyQualifiedName~Engine".
# When a test fails or a test host dies, their reports are printed again at the end, where a log's tail shows them.
set -euo pipefail
source "$(dirname "$0")/scripts/help.sh"
cd "$(dirname "$0")"
ALISA_SETUP_REDIS=1 ALISA_SETUP_HELM=1 bash scripts/setup.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
dotnet test AlisaCluster.sln -c Release "$@" 2>&1 | tee "$log" || status=$?
if [[ $status -ne 0 ]]; then
  echo "== test.sh: dotnet test exited $status; the failures again:"
  grep -E -A 25 '^\s+Failed [A-Za-z_]|^Failed!|[Tt]est host process crashed|test run was aborted' "$log" | head -400 || true
fi
exit $status
