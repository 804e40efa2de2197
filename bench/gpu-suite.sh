#!/usr/bin/env bash
# One device-tool call on the GPU machine: CUDA conformance, the full accuracy study and the throughput
# benchmark beside transformers. Pack here first (bash scripts/pack-gpu.sh; see docs/gpu-machine.md), then from the
# repository root on the GPU machine:
#   run command="bash bench/gpu-suite.sh" carry=[".gpu"]
# Results land in $OUT (JSON lines, Markdown, SVG).
set -uo pipefail
source "$(dirname "$0")/../scripts/help.sh"
OUT=${OUT:-/tmp/alisa-out}; mkdir -p "$OUT"
rm -rf "${TMPDIR:-/tmp}/gpu-app"   # run.sh reuses an extracted app: make sure this pack is the one that runs
alisa() { bash .gpu/run.sh "$@"; }
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"

echo "== conformance on CUDA (fp32 must match transformers; bf16 for information)"
[ "${SKIP_CONFORMANCE:-0}" = 1 ] || for m in tiny-llama tiny-opt; do
  alisa conformance --model models/$m --device cuda --dtype fp32 --out "$OUT/conformance-$m-fp32.json" | tail -1
  alisa conformance --model models/$m --device cuda --dtype bf16 --out "$OUT/conformance-$m-bf16.json" | tail -1
done

if [ "${SKIP_EVAL:-0}" != 1 ]; then
  echo "== accuracy study: 4 processes (model x text) in parallel"
  POLICIES=${POLICIES:-local,streaming,h2o,swa}
  INT8=${INT8:-off}
  for m in tiny-llama tiny-opt; do for t in kjv fortunes; do
    ( alisa eval --model models/$m --text data/heldout-$t.txt --device cuda --dtype fp32 --threads 4 --sparsity 0.5,0.7,0.8,0.9 \
        --policies "$POLICIES" --int8 "$INT8" --window 1024 --batch 32 --agreement-prompts 16 --agreement-tokens 64 \
        --reference data/sparse-reference.jsonl --out "$OUT/eval" > "$OUT/eval-$m-$t.log" 2>&1
      echo "eval $m $t rc=$? at $SECONDS s" ) &
  done; done
  wait
fi

if [ "${SKIP_BENCH:-0}" != 1 ]; then
  if [ "${SKIP_HF:-0}" != 1 ]; then
    echo "== transformers calibration point (batch 8, whole card)"
    python3 bench/peer/hf_baseline.py --preset llama2-7b --batch 8 --prompt 128 --gen 512 | tee -a "$OUT/hf.jsonl"
  fi
  echo "== throughput: Llama-2-7B shape, fp16, 128 + 512 tokens"
  for budget in "" "--gpu-mem-gib 24"; do
    alisa bench --dummy-weights llama2-7b --dtype fp16 --batch 8,32,64 --prompt-len 128 --gen-len 512 $budget --out "$OUT/bench.jsonl" | grep '^{'
    alisa bench --dummy-weights llama2-7b --dtype fp16 --batch 8,32,64 --prompt-len 128 --gen-len 512 --policy swa:0.8 --int8 $budget --out "$OUT/bench.jsonl" | grep '^{'
  done
fi
