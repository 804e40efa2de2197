#!/usr/bin/env bash
# publish-silo.sh [OUT]: publishes the GPU-worker silo (src/Silo) self-contained for linux-x64 into OUT
# (default artifacts/silo), without the CPU libtorch of TorchSharp's package: the silo image (docker/silo.Dockerfile)
# puts a CUDA libtorch on LD_LIBRARY_PATH, as .gpu/run.sh does on the GPU machine. CI runs it outside Docker too.
#   --cpu    keep the CPU libtorch (a silo for CPU-only nodes)
set -euo pipefail
source "$(dirname "$0")/help.sh"
cd "$(dirname "$0")/.."
keep_cpu=0
args=()
for arg in "$@"; do
  case "$arg" in
    --cpu) keep_cpu=1 ;;
    *) args+=("$arg") ;;
  esac
done
out=${args[0]:-artifacts/silo}
command -v dotnet >/dev/null || { echo "publish-silo: the .NET SDK (dotnet) is needed" >&2; exit 1; }
rm -rf "$out"
dotnet publish src/Silo/Silo.csproj -c Release -r linux-x64 --self-contained -p:DebugType=none -o "$out"
[[ -x "$out/AlisaCluster.Silo" ]] || { echo "publish-silo: no executable AlisaCluster.Silo in $out" >&2; exit 1; }
[[ -f "$out/libLibTorchSharp.so" ]] \
  || { echo "publish-silo: TorchSharp's native bridge (LibTorchSharp) is missing from $out" >&2; exit 1; }
[[ $keep_cpu == 1 ]] || bash scripts/strip-cpu-libtorch.sh "$out"
echo "publish-silo: $(du -sh "$out" | cut -f1) in $out"
