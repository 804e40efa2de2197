#!/usr/bin/env bash
# Issue 3: the learned local/global split (swa:S:per-head:learned, split from models/*/alisa-split.json, made by
# `alisa calibrate`) against the policies it must beat, on both tiny models x both texts at 50/70/80/90% sparsity,
# INT8 off, under the accuracy protocol of docs/design.md, with the same eval flags as bench/gpu-suite.sh.
# On the GPU machine, from the repository root, after
#   bash scripts/pack-gpu.sh      # src/Cli/Cli.csproj, published as `alisa` (see docs/gpu-machine.md)
#   run command="bash bench/issue3-variants.sh" carry=[".gpu"]
# Elsewhere: ALISA="dotnet src/Cli/bin/Debug/net10.0/alisa.dll" DEVICE="--device cpu" bash bench/issue3-variants.sh
# POLICIES adds baselines (e.g. POLICIES=local,streaming,h2o,swa,swa:per-head,swa:per-head:learned); the summary
# compares the variant with every baseline measured here or stored in docs/results/accuracy/ (baselines-h200-*, variants-*).
# CALIBRATE=1 re-learns the splits first (written to the models' folders and copied to $OUT).
# Issue 15 (Quest) runs it as: POLICIES=local,swa:per-head,swa:per-head:learned,quest,quest:local=0.5,quest:local=0.5:ada
#   VARIANT=quest:local=0.5 SPARSITY=0.5,0.6,0.7,0.8,0.9 INT8=both bash bench/issue3-variants.sh
set -uo pipefail
source "$(dirname "$0")/../scripts/help.sh"
OUT=${OUT:-/tmp/alisa-out}; mkdir -p "$OUT/eval"
ALISA=${ALISA:-bash .gpu/run.sh}
DEVICE=${DEVICE:---device cuda --dtype fp32}
POLICIES=${POLICIES:-local,swa:per-head,swa:per-head:learned}
VARIANT=${VARIANT:-swa:per-head:learned}
SPARSITY=${SPARSITY:-0.5,0.7,0.8,0.9}
INT8=${INT8:-off}
alisa() { $ALISA "$@"; }
rm -rf "${TMPDIR:-/tmp}/gpu-app"   # .gpu/run.sh reuses an extracted app: make sure this pack is the one that runs
alisa > /dev/null                  # (its usage) extracts the app once, before the parallel runs race to do it

if [ "${CALIBRATE:-0}" = 1 ]; then
  for m in tiny-llama tiny-opt; do
    alisa calibrate --model models/$m $DEVICE > "$OUT/calibrate-$m.log" 2>&1; echo "calibrate $m rc=$?"
    cp models/$m/alisa-split.json "$OUT/alisa-split-$m.json"
  done
fi

for m in tiny-llama tiny-opt; do for t in kjv fortunes; do
  ( alisa eval --model models/$m --text data/heldout-$t.txt $DEVICE --threads 4 --sparsity "$SPARSITY" \
      --policies "$POLICIES" --int8 "$INT8" --window 1024 --batch 32 --agreement-prompts 16 --agreement-tokens 64 \
      --reference data/sparse-reference.jsonl --out "$OUT/eval" > "$OUT/eval-$m-$t.log" 2>&1
    echo "eval $m $t rc=$? at $SECONDS s" ) &
done; done
wait

# per model, text and sparsity: the variant against the best baseline (local, streaming, h2o, swa, swa per-head)
python3 - "$OUT/eval" "$VARIANT" <<'PY'
import glob, json, sys
VARIANT = sys.argv[2]
BASELINES = [p for p in ["local", "streaming", "h2o", "swa", "swa:per-head", "swa:per-head:learned"] if p != VARIANT]
ppl = {}
for path in sorted(glob.glob("docs/results/accuracy/*-h200-*.jsonl")) + sorted(glob.glob("docs/results/accuracy/variants-*.jsonl")) + glob.glob(sys.argv[1] + "/*.jsonl"):  # this run last
    for line in open(path):
        r = json.loads(line)
        parts = r["Policy"].split(":")
        if not r["Int8"] and r["Sparsity"] > 0:
            ppl.setdefault((r["Model"], r["Text"], r["Sparsity"]), {})[":".join(parts[:1] + parts[2:])] = r["Ppl"]
wins = cases = 0
for (model, text, sparsity), row in sorted(ppl.items()):
    if VARIANT not in row: continue
    name, best = min(((p, row[p]) for p in BASELINES if p in row), key=lambda kv: kv[1])
    cases += 1; wins += row[VARIANT] <= best
    print(f"{model:10} {text:21} {sparsity}: {VARIANT} {row[VARIANT]:8.3f}  best baseline {name:12} {best:8.3f}  "
          f"{'win ' if row[VARIANT] <= best else 'LOSS'} {100 * (row[VARIANT] / best - 1):+.2f}%")
print(f"{VARIANT} at least as good as the best baseline in {wins} of {cases} cases")
PY
