#!/usr/bin/env bash
# The GPU decode path on the GPU machine (CUDA graphs + the native paged attention kernel), one device call per part:
#   bash scripts/pack-gpu.sh                               # here: the CLI, self-contained, into .gpu/
#   run command="bash bench/gpu-decode.sh check" carry=[".gpu"]
# Parts: check  = build native/, kernel vs CPU reference and graph vs eager step (alisa native-check), conformance
#                 on CUDA fp32, a short 7B smoke run of both steps;
#        llama  = Llama-2-7B shape tables: whole card (batch 8/64/256), 24 GiB with preemption (8/32/64/256),
#                 prefill and late-prompt runs, eager step for comparison, transformers beside it;
#        opt    = the same for the OPT-6.7B shape;  late-llama = only the late-prompt runs of the llama part;
#        eval   = the accuracy study at 80% sparsity on KJV for both bundled models, on CUDA, against the reference.
# Workload: fp16, 128 prompt + 512 generated tokens, random weights. JSON lines land in $OUT.
set -uo pipefail
source "$(dirname "$0")/../scripts/help.sh"
PART=${1:-check}
OUT=${OUT:-/tmp/alisa-out}; mkdir -p "$OUT"
rm -rf "${TMPDIR:-/tmp}/gpu-app"   # run.sh reuses an extracted app: make sure this pack is the one that runs
bash native/build.sh > "$OUT/native-build.log" 2>&1 || { tail -40 "$OUT/native-build.log"; exit 1; }
tail -1 "$OUT/native-build.log"
export ALISA_NATIVE_LIB=$PWD/native/build/libalisa_native.so
alisa() { bash .gpu/run.sh "$@" 2>&1 | grep -v '%$'; }
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader
common=(--dtype fp16 --device cuda --prompt-len 128 --gen-len 512)
peer() { python3 bench/peer/hf_baseline.py "$@" 2>/dev/null | grep '^{' | tee -a "$OUT/hf.jsonl"; }
# a 4k-token prompt (4095: the shapes' context is 4096) arriving during a batch-64 decode, per prefill chunk size
late() { for chunk in ${CHUNKS:-512 1024 2048}; do
  alisa bench --dummy-weights $shape "${common[@]}" --batch 64 --late-prompt-len 4095 --prefill-chunk $chunk --decode-step graph --out "$OUT/late-$shape.jsonl" | grep '^{'
done; }
case "$PART" in
  check)
    alisa native-check --out "$OUT/native-check.jsonl" | tail -3
    for m in tiny-llama tiny-opt; do alisa conformance --model models/$m --device cuda --dtype fp32 | tail -1; done
    [ "${SKIP_SMOKE:-0}" = 1 ] || alisa bench --dummy-weights llama2-7b "${common[@]}" --gen-len 64 --batch 8,64 --decode-step eager,graph --out "$OUT/smoke.jsonl" | grep "^{"
    ;;
  llama|opt)
    shape=$([ "$PART" = llama ] && echo llama2-7b || echo opt-6.7b)
    alisa bench --dummy-weights $shape "${common[@]}" --batch 8,64,256 --decode-step graph --out "$OUT/bench-$shape.jsonl" | grep '^{'
    alisa bench --dummy-weights $shape "${common[@]}" --batch 8,32,64,256 --gpu-mem-gib 24 --decode-step graph --out "$OUT/bench-$shape.jsonl" | grep '^{'
    late
    [ "${SKIP_EAGER:-0}" = 1 ] || alisa bench --dummy-weights $shape "${common[@]}" --gen-len 128 --batch 8,64 --decode-step eager --out "$OUT/bench-$shape.jsonl" | grep '^{'
    [ "${SKIP_HF:-0}" = 1 ] || peer --preset $shape --batch 8 64 256 --prompt 128 --gen 512
    [ "${SKIP_HF:-0}" = 1 ] || peer --preset $shape --batch 32 --prompt 128 --gen 512 --gpu-mem-gib 24
    ;;
  late-llama) shape=llama2-7b; late ;;
  eval)   # the accuracy study's 80% row on the GPU path (fused kernels) against the independent reference
    for m in tiny-llama tiny-opt; do
      alisa eval --model models/$m --text data/heldout-kjv.txt --device cuda --dtype fp32 --policies local,streaming,h2o,swa \
        --sparsity 0.8 --reference data/sparse-reference.jsonl --out /tmp/eval-$m | tail -3
      cat /tmp/eval-$m/*.jsonl > "$OUT/eval-$m.jsonl"
    done ;;
  *) echo "unknown part '$PART' (check, llama, opt, late-llama, eval)"; exit 2 ;;
esac
