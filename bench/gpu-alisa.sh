#!/usr/bin/env bash
# ALISA on the GPU machine: the fused sparse attention kernel (selection, INT8 rows, CPU tier read in place) against
# our dense engine and transformers, one device call per part:
#   bash scripts/pack-gpu.sh                               # here: the CLI, self-contained, into .gpu/
#   run command="bash bench/gpu-alisa.sh check" carry=[".gpu"]
# Parts: check  = build native/, alisa native-check (kernel vs CPU reference incl. selections, INT8, CPU tier;
#                 kv_write_int8; graph vs eager steps), a short ALISA smoke run;
#        table  = the issue's table for SHAPE (llama2-7b default, or opt-6.7b): 24 GiB budget, 128 + 512, batch
#                 64 and 256: dense with preemption vs ALISA (SWA 80% + INT8, tiers as planned); whole card, batch 256,
#                 1024 + 1024: dense vs ALISA;
#        eval   = INT8 and SWA accuracy on CUDA (both models, both texts) against the independent reference;
#        steps  = the decode step per policy (POLICIES="a,b" picks some) (24 GiB, batch 64, 128 + 128, all KV on the GPU): what selection and score
#                 upkeep add to the kernel's sparse read (local and streaming select without scores);
#        long   = the same at long context on the whole card (batch 64, 1024 + 512): dense, SWA, per-head SWA, with and
#                 without page summaries (POLICIES overrides);
#        async  = the table's 24 GiB rows (BATCHES, default 64) with and without async scheduling, in one call: dense,
#                 ALISA, ALISA stepping in turn, dense stepping in turn.
# fp16, random weights. JSON lines land in $OUT.
set -uo pipefail
source "$(dirname "$0")/../scripts/help.sh"
PART=${1:-check}
OUT=${OUT:-/tmp/alisa-out}; mkdir -p "$OUT"
rm -rf "${TMPDIR:-/tmp}/gpu-app"
bash native/build.sh > "$OUT/native-build.log" 2>&1 || { tail -40 "$OUT/native-build.log"; exit 1; }
tail -1 "$OUT/native-build.log"
export ALISA_NATIVE_LIB=$PWD/native/build/libalisa_native.so
alisa() { bash .gpu/run.sh "$@" 2>&1 | grep -v '%$'; }
shape=${SHAPE:-llama2-7b}
alisa_policy=(--policy swa:0.8 --int8)
case "$PART" in
  check)
    alisa native-check --out "$OUT/native-check.jsonl" | grep -v '"Passed":true' | tail -8
    alisa bench --dummy-weights $shape --dtype fp16 --device cuda --prompt-len 128 --gen-len 64 --batch 64 "${alisa_policy[@]}" \
      --gpu-mem-gib 24 --out "$OUT/smoke.jsonl" | grep -E '^\{|^Unhandled'
    ;;
  table)
    common=(--dummy-weights $shape --dtype fp16 --device cuda)
    for batch in ${BATCHES:-64 256}; do
      alisa bench "${common[@]}" --prompt-len 128 --gen-len 512 --batch $batch --gpu-mem-gib 24 --out "$OUT/table-$shape.jsonl" | grep -E '^\{|^Unhandled'
      alisa bench "${common[@]}" --prompt-len 128 --gen-len 512 --batch $batch --gpu-mem-gib 24 --cpu-mem-gib 96 --kv-mode tiered --explain \
        "${alisa_policy[@]}" --out "$OUT/table-$shape.jsonl"
    done
    [ "${SKIP_LONG:-0}" = 1 ] || for policy in dense alisa; do
      extra=(); [ $policy = alisa ] && extra=("${alisa_policy[@]}")
      alisa bench "${common[@]}" --prompt-len 1024 --gen-len 1024 --batch 256 "${extra[@]}" --out "$OUT/long-$shape.jsonl" | grep -E '^\{|^Unhandled'
    done
    ;;
  eval)
    for m in tiny-llama tiny-opt; do for text in kjv fortunes; do
      alisa eval --model models/$m --text data/heldout-$text.txt --device cuda --dtype fp32 --policies swa,swa:per-head \
        --sparsity 0.8 --int8 both --reference data/sparse-reference.jsonl --out /tmp/eval-$m-$text | tail -4
      cat /tmp/eval-$m-$text/*.jsonl > "$OUT/eval-$m-$text.jsonl"
    done; done ;;
  steps)
    policies=(dense "local:0.8 --int8" "streaming:0.8 --int8" "swa:0.8 --int8" "swa:0.8" "h2o:0.8 --int8" "quest:0.8 --int8")
    [ -n "${POLICIES:-}" ] && IFS=, read -ra policies <<< "$POLICIES"   # POLICIES="swa:0.8 --int8,quest:0.8 --int8"
    for policy in "${policies[@]}"; do
      alisa bench --dummy-weights $shape --dtype fp16 --device cuda --prompt-len 128 --gen-len 128 --batch ${BATCH:-64} \
        --gpu-mem-gib 24 --policy $policy --out "$OUT/steps-$shape.jsonl" | grep -E '^\{|^Unhandled'
    done ;;
  long)
    policies=(dense "swa:0.8 --int8" "swa:0.8:per-head --int8" "swa:0.8:summaries --int8" "swa:0.8:per-head:summaries --int8")
    [ -n "${POLICIES:-}" ] && IFS=, read -ra policies <<< "$POLICIES"
    for policy in "${policies[@]}"; do
      alisa bench --dummy-weights $shape --dtype fp16 --device cuda --prompt-len 1024 --gen-len 512 --batch 64 \
        --policy $policy --out "$OUT/long-summaries-$shape.jsonl" | grep -E '^\{|^Unhandled'
    done ;;
  async)
    common=(--dummy-weights $shape --dtype fp16 --device cuda --prompt-len 128 --gen-len 512 --gpu-mem-gib 24)
    tiered=(--cpu-mem-gib 96 --kv-mode tiered "${alisa_policy[@]}")
    for batch in ${BATCHES:-64}; do
      for variant in "" "${tiered[*]}" "${tiered[*]} --no-async-scheduling" "--no-async-scheduling"; do
        alisa bench "${common[@]}" --batch $batch $variant --out "$OUT/ab-async-$shape.jsonl" | grep -E '^\{|^Unhandled'
      done
    done ;;
  *) echo "unknown part '$PART' (check, table, eval, steps, long, async)"; exit 2 ;;
esac
