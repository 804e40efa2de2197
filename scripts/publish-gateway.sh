#!/usr/bin/env bash
# publish-gateway.sh [OUT]: publishes the gRPC gateway (src/Gateway) framework-dependent into OUT (default
# artifacts/gateway), for the ASP.NET runtime image (docker/gateway.Dockerfile). CI runs it outside Docker too.
set -euo pipefail
source "$(dirname "$0")/help.sh"
cd "$(dirname "$0")/.."
out=${1:-artifacts/gateway}
command -v dotnet >/dev/null || { echo "publish-gateway: the .NET SDK (dotnet) is needed" >&2; exit 1; }
rm -rf "$out"
dotnet publish src/Gateway/Gateway.csproj -c Release -p:UseAppHost=false -p:DebugType=none -o "$out"
[[ -f "$out/AlisaCluster.Gateway.dll" ]] || { echo "publish-gateway: no AlisaCluster.Gateway.dll in $out" >&2; exit 1; }
echo "publish-gateway: $(du -sh "$out" | cut -f1) in $out"
