#!/usr/bin/env python3
"""Writes a Llama-shaped bf16 checkpoint of random weights in the layout transformers saves (sharded safetensors,
model.safetensors.index.json, config.json), for `alisa bench --load`. Plain Python (no numpy): a block of random
small bf16 values is generated once and repeated, which is all a load benchmark needs.

  python3 tools/make_synthetic_checkpoint.py --out /tmp/synthetic-1b --shape 1b
  dotnet run --project src/Cli -c Release -- bench --load --model /tmp/synthetic-1b --device cpu --dtype bf16"""
import argparse
import json
import os
import random
import shutil
import struct

SHAPES = {  # hidden, intermediate, layers, heads, kv heads, vocab
    "1b": (2048, 5632, 22, 32, 4, 32000),
    "3b": (3072, 8192, 28, 24, 8, 128256),
    "7b": (4096, 11008, 32, 32, 32, 32000),
}


def tensors(hidden, intermediate, layers, heads, kv_heads, vocab):
    head_dim = hidden // heads
    yield "model.embed_tokens.weight", [vocab, hidden]
    for i in range(layers):
        p = f"model.layers.{i}."
        yield p + "input_layernorm.weight", [hidden]
        yield p + "self_attn.q_proj.weight", [heads * head_dim, hidden]
        yield p + "self_attn.k_proj.weight", [kv_heads * head_dim, hidden]
        yield p + "self_attn.v_proj.weight", [kv_heads * head_dim, hidden]
        yield p + "self_attn.o_proj.weight", [hidden, heads * head_dim]
        yield p + "post_attention_layernorm.weight", [hidden]
        yield p + "mlp.gate_proj.weight", [intermediate, hidden]
        yield p + "mlp.up_proj.weight", [intermediate, hidden]
        yield p + "mlp.down_proj.weight", [hidden, intermediate]
    yield "model.norm.weight", [hidden]
    yield "lm_head.weight", [vocab, hidden]


def random_block(size):
    rng = random.Random(0)
    # bf16 with exponents 2^-8 .. 2^-5 and a random sign and mantissa: small, finite weights
    return b"".join(struct.pack("<H", (rng.getrandbits(1) << 15) | ((0x77 + rng.getrandbits(2)) << 7) | rng.getrandbits(7))
                    for _ in range(size // 2))


def write_shard(path, names_shapes, block):
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, shape in names_shapes:
        size = 2
        for d in shape:
            size *= d
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for name, _ in names_shapes:
            begin, end = header[name]["data_offsets"]
            remaining = end - begin
            while remaining > 0:
                chunk = block[:min(remaining, len(block))]
                f.write(chunk)
                remaining -= len(chunk)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--shape", default="1b", choices=sorted(SHAPES))
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--tokenizer", default="models/tiny-llama/tokenizer.json")
    args = parser.parse_args()
    hidden, intermediate, layers, heads, kv_heads, vocab = SHAPES[args.shape]
    os.makedirs(args.out, exist_ok=True)
    all_tensors = list(tensors(hidden, intermediate, layers, heads, kv_heads, vocab))
    block = random_block(8 << 20)
    weight_map, per_shard = {}, -(-len(all_tensors) // args.shards)
    for s in range(args.shards):
        mine = all_tensors[s * per_shard:(s + 1) * per_shard]
        name = f"model-{s + 1:05d}-of-{args.shards:05d}.safetensors"
        write_shard(os.path.join(args.out, name), mine, block)
        weight_map.update({t: name for t, _ in mine})
    with open(os.path.join(args.out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f)
    config = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": hidden, "intermediate_size": intermediate,
              "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kv_heads, "vocab_size": vocab,
              "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": False,
              "hidden_act": "silu", "dtype": "bfloat16", "bos_token_id": 1, "eos_token_id": 2}
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    shutil.copy(args.tokenizer, os.path.join(args.out, "tokenizer.json"))
    size = sum(os.path.getsize(os.path.join(args.out, n)) for n in os.listdir(args.out))
    print(f"wrote {args.out}: {len(all_tensors)} tensors in {args.shards} shards, {size / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
