#!/usr/bin/env bash
# Where a decode step's GPU time goes, on the GPU machine (after `bash scripts/pack-gpu.sh` here; carry .gpu):
#   run command="bash bench/gpu-profile.sh" carry=[".gpu"]
# 1. bench/gemm_floor.py: cuBLAS's decode-shaped GEMMs against the bandwidth floor (both BLAS back ends);
# 2. when nsys is present: the ALISA bench (SWA 80% + INT8, batch 64, 24 GiB, 128 + 64) and local 80% + INT8 under
#    `nsys profile --cuda-graph-trace=node`, summarised per kernel (cuda_gpu_kern_sum).
# Env: SHAPE (llama2-7b), POLICIES ("swa:0.8 --int8,local:0.8 --int8"), BATCH (64). Output in $OUT.
set -uo pipefail
[[ "${1:-}" == "--help" || "${1:-}" == "-h" ]] && { sed -n "2,7p" "$0" | sed "s/^# \{0,1\}//"; exit 0; }
OUT=${OUT:-/tmp/profile-out}; mkdir -p "$OUT"
shape=${SHAPE:-llama2-7b}
bash native/build.sh > "$OUT/native-build.log" 2>&1 || { tail -40 "$OUT/native-build.log"; exit 1; }
export ALISA_NATIVE_LIB=$PWD/native/build/libalisa_native.so
python3 bench/gemm_floor.py --shape $shape --out "$OUT/gemm-floor-$shape.jsonl" | python3 -c '
import json,sys
for l in sys.stdin:
    r=json.loads(l); print(r["Backend"],r["Projection"],"M=%d"%r["Batch"],"%.3f ms"%r["Ms"],"%.2f TB/s"%r["TBps"])'
nsys=$(command -v nsys || ls /usr/local/cuda/bin/nsys /opt/nvidia/nsight-systems/*/bin/nsys 2>/dev/null | head -1)
[ -z "$nsys" ] && { echo "nsys: not found"; exit 0; }
IFS=, read -ra policies <<< "${POLICIES:-swa:0.8 --int8,local:0.8 --int8}"
i=0
for policy in "${policies[@]}"; do
  i=$((i+1))
  $nsys profile --cuda-graph-trace=node -t cuda --force-overwrite true -o /tmp/prof$i \
    bash .gpu/run.sh bench --dummy-weights $shape --dtype fp16 --device cuda --prompt-len 128 --gen-len 64 \
    --batch ${BATCH:-64} --gpu-mem-gib 24 --policy $policy --out "$OUT/profiled-steps.jsonl" 2>&1 | grep -E '^\{|Unhandled|rror' | cut -c1-400
  $nsys stats -q --report cuda_gpu_kern_sum --format csv -o "$OUT/kern-$i" /tmp/prof$i.nsys-rep > /dev/null 2>&1
  echo "== $policy: top kernels (total ms, calls, name)"
  python3 - "$OUT/kern-${i}_cuda_gpu_kern_sum.csv" <<'PY'
import csv,sys
rows=list(csv.DictReader(open(sys.argv[1])))
tot=sum(float(r["Total Time (ns)"]) for r in rows)
for r in rows[:25]:
    print("%8.1f ms %5.1f%% %7s  %s" % (float(r["Total Time (ns)"])/1e6, 100*float(r["Total Time (ns)"])/tot, r["Instances"], r["Name"][:110]))
print("total %.1f ms" % (tot/1e6))
PY
done
