#!/usr/bin/env bash
# Three-phase KV scheduling on the GPU machine, one model shape per device call (each call <= 10 minutes):
#   bash scripts/pack-gpu.sh      # src/Cli/Cli.csproj, published as `alisa` (see docs/gpu-machine.md)
#   run command="bash bench/gpu-tiers.sh llama2-7b" carry=[".gpu"]
# Workload: fp16, 128 prompt + 512 generated tokens, a 24 GiB card emulated by --gpu-mem-gib 24.
# Modes: gpu (all KV on the GPU, preempt + recompute when full, like vLLM), offload (whole KV on the CPU, like
# HF Accelerate / FlexGen), tiered (ALISA: SWA 80% + INT8, three phases planned by the cost model).
set -uo pipefail
source "$(dirname "$0")/../scripts/help.sh"
SHAPE=${1:-llama2-7b}; PART=${2:-all}
OUT=${OUT:-/tmp/alisa-out}; mkdir -p "$OUT"
[ "${FRESH_APP:-1}" = 1 ] && rm -rf "${TMPDIR:-/tmp}/gpu-app"
alisa() { bash .gpu/run.sh "$@"; }
common=(--dummy-weights "$SHAPE" --dtype fp16 --device cuda --prompt-len 128 --gen-len 512 --gpu-mem-gib 24 --cpu-mem-gib 96
        --profile "$OUT/profile-$SHAPE.json" --out "$OUT/bench-$SHAPE.jsonl")
case "$PART" in
  smoke)   alisa bench "${common[@]}" --gen-len 48 --batch 8 --kv-mode tiered,offload --policy swa:0.8 --int8 --explain --kv-tokens 1280 ;;
  tiered)  alisa bench "${common[@]}" --batch 8,32,64 --kv-mode tiered --policy swa:0.8 --int8 --explain ;;
  dense)   alisa bench "${common[@]}" --batch 8,32,64 --kv-mode gpu ;;
  offload) alisa bench "${common[@]}" --batch 8 --kv-mode offload --predict ;;
  hf)      python3 bench/peer/hf_baseline.py --preset "$SHAPE" --batch 8 --prompt 128 --gen 512 --gpu-mem-gib 24 | tee -a "$OUT/hf-$SHAPE.jsonl" ;;
  all)     for p in tiered dense offload; do FRESH_APP=0 bash "$0" "$SHAPE" "$p"; done ;;
esac 2>&1 | grep -v '%$'
