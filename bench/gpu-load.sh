#!/usr/bin/env bash
# Checkpoint load time on the GPU machine (the real-checkpoints issue): a Llama-2-7B-shape checkpoint of random
# weights written by transformers (bf16, sharded safetensors, initialised on the GPU so writing it takes seconds),
# then `alisa bench --load` twice: with the files in the page cache (warm) and after asking the kernel to drop them
# (posix_fadvise DONTNEED on every shard: cold, read from disk).
#   bash scripts/pack-gpu.sh                                  # here
#   run command="bash bench/gpu-load.sh" carry=[".gpu"]      # on the GPU machine; JSON lines in $OUT/load-7b.jsonl
set -uo pipefail
source "$(dirname "$0")/../scripts/help.sh"
OUT=${OUT:-/tmp/alisa-out}; mkdir -p "$OUT"
DIR=${DIR:-/tmp/llama2-7b-random}
python3 - "$DIR" <<'PY'
import sys, time, torch
from transformers import LlamaConfig, LlamaForCausalLM
start = time.time()
config = LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                     num_key_value_heads=32, vocab_size=32000, max_position_embeddings=4096, torch_dtype="bfloat16")
with torch.device("cuda"):
    model = LlamaForCausalLM(config).to(torch.bfloat16)
model.save_pretrained(sys.argv[1], max_shard_size="5GB")
print(f"wrote {sys.argv[1]} in {time.time() - start:.1f} s", flush=True)
PY
cp models/tiny-llama/tokenizer.json "$DIR/"   # the loader needs one; the benchmark never tokenizes
du -sh "$DIR"
evict() { python3 -c "import os,sys
for f in sys.argv[1:]:
    fd = os.open(f, os.O_RDONLY); os.fsync(fd); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)" "$DIR"/*.safetensors; }
for cache in warm cold; do
  [ $cache = cold ] && evict
  echo "--- $cache page cache"
  bash .gpu/run.sh bench --load --model "$DIR" --device cuda --dtype bf16 2>&1 | grep -E '^\{|rror' | tee -a "$OUT/load-7b.jsonl"
done
