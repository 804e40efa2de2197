#!/usr/bin/env bash
# Where a decode step's GPU time goes, on the GPU machine (after `bash scripts/pack-gpu.sh` here; carry .gpu):
#   run command="bash bench/gpu-profile.sh" carry=[".gpu"]
# 1. bench/gemm_floor.py: cuBLAS's decode-shaped GEMMs against the bandwidth floor (both BLAS back ends);
# 2. ncu: the duration of every kernel of a short ALISA bench (SWA 80% + INT8, 24 GiB, 128 + 12) at batch 64 (BATCHES),
#    for bench/kernel_steps.py to split into decode steps and sum per kernel.
# Env: SKIP_GEMM=1 skips part 1; SHAPE (llama2-7b), POLICIES ("swa:0.8 --int8"), BATCHES ("64"; batch 256 under ncu takes over 5 minutes), GEN (12),
# PROMPT (128), GPU_MEM_GIB (24; empty: the whole card). Output in $OUT. ncu times the prefill's kernels too: PROMPT=1024
# at batch 64 takes over 7 minutes (a 420 s call ended with nothing written). For long prompts use a smaller BATCHES, or
# an ncu launch window past the prefill as LATE=1 sets (SKIP and COUNT apply only with LATE=1, which runs 128 + 512).
# LATE=1: instead, a few late decode steps of the table's row (128 + 512, tiered, --cpu-mem-gib 96): ncu times only the
# COUNT (2500) launches after the first SKIP (150000; near step 250 at batch 256); ~75 s at batch 256.
set -uo pipefail
source "$(dirname "$0")/../scripts/help.sh"
OUT=${OUT:-/tmp/profile-out}; mkdir -p "$OUT"
shape=${SHAPE:-llama2-7b}
bash native/build.sh > "$OUT/native-build.log" 2>&1 || { tail -40 "$OUT/native-build.log"; exit 1; }
export ALISA_NATIVE_LIB=$PWD/native/build/libalisa_native.so
[ "${SKIP_GEMM:-0}" = 1 ] || python3 bench/gemm_floor.py --shape $shape --out "$OUT/gemm-floor-$shape.jsonl" | python3 -c '
import json,sys
for l in sys.stdin:
    r=json.loads(l); print(r["Backend"],r["Projection"],"M=%d"%r["Batch"],"%.3f ms"%r["Ms"],"%.2f TB/s"%r["TBps"])'
# Per-kernel GPU time with ncu (one metric, no cache flush, no clock locking): every kernel launch and CUDA-graph
# kernel node of a short run, in launch order; the decode steps are the repeating tail (analysed here by
# bench/kernel_steps.py).
IFS=, read -ra policies <<< "${POLICIES:-swa:0.8 --int8}"
for batch in ${BATCHES:-64}; do for policy in "${policies[@]}"; do
  tag="b$batch-$(echo $policy | tr -c 'a-z0-9.\n' '_')"
  run=(--prompt-len ${PROMPT:-128} --gen-len ${GEN:-12}); window=()
  budget=(); [ -n "${GPU_MEM_GIB-24}" ] && budget=(--gpu-mem-gib ${GPU_MEM_GIB-24})
  [ "${LATE:-0}" = 1 ] && { tag=$tag-late; run=(--prompt-len 128 --gen-len 512 --kv-mode tiered --cpu-mem-gib 96)
                            window=(--launch-skip ${SKIP:-150000} --launch-count ${COUNT:-2500}); }
  /usr/local/cuda/bin/ncu --metrics gpu__time_duration.sum --cache-control none --clock-control none --csv "${window[@]}" \
    --log-file /tmp/ncu-$tag.csv bash .gpu/run.sh bench --dummy-weights $shape --dtype fp16 --device cuda \
    "${run[@]}" --batch $batch "${budget[@]}" --policy $policy \
    --out "$OUT/profiled-steps.jsonl" 2>&1 | grep -E '^\{|Unhandled|rror' | cut -c1-300
  grep -v '^==' /tmp/ncu-$tag.csv | xz -6 > "$OUT/ncu-$tag.csv.xz"; echo "$tag: $(wc -l < /tmp/ncu-$tag.csv) lines"
done; done
