#!/usr/bin/env python3
"""Builds a tiny checkpoint of each model family in that family's real layout (random init, small hidden size,
saved by transformers), a tokenizer in that family's pipeline (a BPE trained with Hugging Face `tokenizers` on the
held-out texts in data/; tools/family_tokenizers.py), and the reference outputs `alisa conformance` and the tests compare against:

  <out>/tiny-<family>/        config.json, generation_config.json, model.safetensors, tokenizer.json,
                              tokenizer_config.json, reference-outputs.json, tokenizer-reference.json
  <out>/tiny-llama/, tiny-opt/  tokenizer-reference.json for the bundled checkpoints' tokenizers
  <out>/rope-reference.json   cos/sin of every rope type, from transformers' own rotary embedding
  <out>/versions.json         the library versions that made all of it

Runs where PyTorch, transformers and tokenizers are installed (no network needed), from the repository root:
  python3 tools/make_family_checkpoints.py --out /tmp/models
Everything is computed in float32 with eager attention; the checkpoints are stored in float32."""
import argparse
import json
import os
import platform
import sys
import traceback
import zlib

import tokenizers
import torch
import transformers
from tokenizers import normalizers

from family_tokenizers import LLAMA3_PATTERN, QWEN2_PATTERN, VOCAB, byte_level_tokenizer, sentencepiece_style_tokenizer, tokenizer_reference

HIDDEN, HEADS, KV_HEADS, HEAD_DIM, INTERMEDIATE, LAYERS, MAX_POS = 64, 4, 2, 16, 192, 2, 1024
PROMPTS = ["In the beginning", "And it came to pass, when the king heard", "The programmer said to the computer",
           "Blessed are they that", "A man walked into a bar and"]


def heldout_paragraphs(data):
    text = open(os.path.join(data, "heldout-kjv.txt"), encoding="utf-8").read()
    return [p for p in text.split("\n\n") if p.strip()]


# ----------------------------------------------------------------------------------------------- models


def rope_kwargs(rope, theta):
    """transformers 5 takes rope_parameters (theta inside), 4.x rope_scaling plus rope_theta."""
    if int(transformers.__version__.split(".")[0]) >= 5:
        return {"rope_parameters": dict(rope, rope_theta=theta)}
    return {"rope_theta": theta, **({} if rope["rope_type"] == "default" else {"rope_scaling": dict(rope)})}


def families(data):
    common = dict(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=INTERMEDIATE, num_hidden_layers=LAYERS,
                  num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, max_position_embeddings=MAX_POS)
    longrope = {"rope_type": "longrope", "short_factor": [1.0, 1.02, 1.05, 1.1, 1.2, 1.4, 1.7, 2.0],
                "long_factor": [1.0, 1.1, 1.3, 1.8, 2.5, 4.0, 6.0, 8.0], "original_max_position_embeddings": 128}
    llama3_specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>"]
    qwen_specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    return {
        "llama3": dict(
            tokenizer=lambda: byte_level_tokenizer(data, LLAMA3_PATTERN, None, llama3_specials, "<|begin_of_text|>"),
            config=lambda t: transformers.LlamaConfig(
                **common, head_dim=HEAD_DIM, rms_norm_eps=1e-5, tie_word_embeddings=True,
                bos_token_id=t.token_to_id("<|begin_of_text|>"), eos_token_id=t.token_to_id("<|end_of_text|>"),
                **rope_kwargs({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                               "original_max_position_embeddings": 64}, 500000.0)),
            generation=lambda t: dict(bos_token_id=t.token_to_id("<|begin_of_text|>"), do_sample=True, temperature=0.6, top_p=0.9,
                                      eos_token_id=[t.token_to_id("<|end_of_text|>"), t.token_to_id("<|eot_id|>")]),
            specials=dict(bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>")),
        "qwen2": dict(
            tokenizer=lambda: byte_level_tokenizer(data, QWEN2_PATTERN, normalizers.NFC(), qwen_specials, None),
            config=lambda t: transformers.Qwen2Config(
                **common, rms_norm_eps=1e-6, tie_word_embeddings=True, use_sliding_window=False,
                bos_token_id=t.token_to_id("<|endoftext|>"), eos_token_id=t.token_to_id("<|endoftext|>"),
                **rope_kwargs({"rope_type": "default"}, 1000000.0)),
            generation=lambda t: dict(bos_token_id=t.token_to_id("<|endoftext|>"), do_sample=True, temperature=0.7, top_p=0.8, top_k=20,
                                      eos_token_id=[t.token_to_id("<|im_end|>"), t.token_to_id("<|endoftext|>")]),
            specials=dict(eos_token="<|endoftext|>")),
        "mistral": dict(
            tokenizer=lambda: sentencepiece_style_tokenizer(data, metaspace=True, extra_specials=[]),
            config=lambda t: transformers.MistralConfig(
                **common, head_dim=HEAD_DIM, rms_norm_eps=1e-5, tie_word_embeddings=False, sliding_window=64,
                bos_token_id=1, eos_token_id=2, **rope_kwargs({"rope_type": "default"}, 10000.0)),
            generation=lambda t: dict(bos_token_id=1, eos_token_id=2),
            specials=dict(bos_token="<s>", eos_token="</s>", unk_token="<unk>")),
        "phi3": dict(
            tokenizer=lambda: sentencepiece_style_tokenizer(data, metaspace=False, extra_specials=["<|endoftext|>", "<|end|>"]),
            config=lambda t: transformers.Phi3Config(
                **common, rms_norm_eps=1e-5, tie_word_embeddings=False, sliding_window=None,
                original_max_position_embeddings=128, bos_token_id=1, eos_token_id=t.token_to_id("<|endoftext|>"),
                pad_token_id=t.token_to_id("<|endoftext|>"), **rope_kwargs(longrope, 10000.0)),
            generation=lambda t: dict(bos_token_id=1, eos_token_id=[t.token_to_id("<|endoftext|>"), t.token_to_id("<|end|>")]),
            specials=dict(bos_token="<s>", eos_token="<|endoftext|>", unk_token="<unk>")),
    }


def randomize(model, seed):
    """Weights large enough that logits are well separated (greedy is then stable under float rounding), and biases and
    norm weights that are not the init's zeros and ones, so a loader that ignores them fails the comparison."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.2 * noise)
            elif name.endswith("bias"):
                p.copy_(0.2 * noise)
            else:
                p.copy_(0.08 * noise)


# ----------------------------------------------------------------------------------------------- reference dumps


def eos_of(config):
    eos = config.eos_token_id
    return eos[0] if isinstance(eos, (list, tuple)) else eos


def reference_outputs(model, tok, config, data, about):
    prompts = PROMPTS + [heldout_paragraphs(data)[0][:600]]  # the long one runs past a sliding window of 64
    public = []
    with torch.no_grad():
        for prompt in prompts:
            ids = tok(prompt, add_special_tokens=True)["input_ids"]
            logits = model(torch.tensor([ids])).logits[0].float()
            top = torch.topk(logits[-1], 10)
            rerun = list(ids)
            for _ in range(40):
                rerun.append(int(model(torch.tensor([rerun])).logits[0, -1].argmax()))
            out = model(torch.tensor([ids]), use_cache=True)
            past, cached = out.past_key_values, [int(out.logits[0, -1].argmax())]
            for _ in range(39):
                out = model(torch.tensor([[cached[-1]]]), past_key_values=past, use_cache=True)
                past = out.past_key_values
                cached.append(int(out.logits[0, -1].argmax()))
            greedy = rerun[len(ids):]
            public.append({
                "prompt": prompt, "input_ids": ids,
                "last_logits_top10": {"ids": top.indices.tolist(), "values": [round(v, 5) for v in top.values.tolist()]},
                "last_logsumexp": round(float(torch.logsumexp(logits[-1], 0)), 5),
                "logits_first_pos_first16": [round(v, 5) for v in logits[0, :16].tolist()],
                "greedy_40_ids": greedy, "greedy_40_cached_ids": cached,
                "greedy_40_text": tok.decode(greedy, skip_special_tokens=False)})
            if cached != greedy:
                print(f"  note: cached greedy differs from re-run greedy for {prompt[:30]!r}")
        eos = eos_of(config)
        stream = []
        for paragraph in heldout_paragraphs(data):
            stream += tok(paragraph, add_special_tokens=True)["input_ids"] + [eos]
        window = stream[:512]
        logits = model(torch.tensor([window])).logits[0].float()
        logprobs = torch.log_softmax(logits, -1)
        nll = -sum(float(logprobs[t, window[t + 1]]) for t in range(len(window) - 1))
    return {"public": public,
            "window512": {"input_ids": window, "nll_sum": round(nll, 4), "argmax": logits.argmax(-1).tolist()},
            "_about": about}


def rope_reference():
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding
    from transformers.models.phi3.modeling_phi3 import Phi3RotaryEmbedding
    variants = {
        "default": {"rope_type": "default"},
        "linear": {"rope_type": "linear", "factor": 4.0},
        "dynamic": {"rope_type": "dynamic", "factor": 2.0},
        "yarn": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64},
        "llama3": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 64},
    }
    base = dict(hidden_size=HIDDEN, num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, head_dim=HEAD_DIM, max_position_embeddings=256)
    positions = [0, 1, 5, 63, 100, 255]
    result = {"head_dim": HEAD_DIM, "max_position_embeddings": 256, "theta": 10000.0, "positions": positions, "variants": {}}

    def dump(module, length):
        x = torch.zeros(1, 1, length, HEAD_DIM)
        cos, sin = module(x, torch.arange(length)[None])
        return {"cos": [[round(v, 6) for v in cos[0, p].tolist()] for p in positions if p < length],
                "sin": [[round(v, 6) for v in sin[0, p].tolist()] for p in positions if p < length],
                "attention_scaling": float(getattr(module, "attention_scaling", 1.0))}

    for name, rope in variants.items():
        try:
            config = transformers.LlamaConfig(**base, **rope_kwargs(rope, 10000.0))
            result["variants"][name] = {"rope": rope, **dump(LlamaRotaryEmbedding(config=config), 256)}
        except Exception as e:
            print(f"  rope {name}: {type(e).__name__}: {e}")
    for length in (100, 256):  # short factors up to original_max_position_embeddings, long ones past it
        try:
            rope = {"rope_type": "longrope", "short_factor": [1.0, 1.02, 1.05, 1.1, 1.2, 1.4, 1.7, 2.0],
                    "long_factor": [1.0, 1.1, 1.3, 1.8, 2.5, 4.0, 6.0, 8.0], "original_max_position_embeddings": 128}
            config = transformers.Phi3Config(**{k: v for k, v in base.items() if k != "head_dim"}, original_max_position_embeddings=128,
                                             pad_token_id=0, **rope_kwargs(rope, 10000.0))
            result["variants"][f"longrope-{length}"] = {"rope": rope, "length": length, **dump(Phi3RotaryEmbedding(config=config), length)}
        except Exception as e:
            print(f"  rope longrope-{length}: {type(e).__name__}: {e}")
    return result


def build_family(name, spec, data, out, about):
    folder = os.path.join(out, f"tiny-{name}")
    os.makedirs(folder, exist_ok=True)
    raw = spec["tokenizer"]()
    fast_class = getattr(transformers, "PreTrainedTokenizerFast", None) or getattr(transformers, "TokenizersBackend")
    fast = fast_class(tokenizer_object=raw, clean_up_tokenization_spaces=False, **spec["specials"])
    fast.save_pretrained(folder)
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    config = spec["config"](raw)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config, attn_implementation="eager").float()
    randomize(model, seed=zlib.crc32(name.encode()))
    model.eval()
    model.save_pretrained(folder)
    transformers.GenerationConfig(**spec["generation"](raw)).save_pretrained(folder)
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager").float().eval()
    with open(os.path.join(folder, "reference-outputs.json"), "w") as f:
        json.dump(reference_outputs(model, tok, model.config, data, about), f)
    with open(os.path.join(folder, "tokenizer-reference.json"), "w") as f:
        json.dump(tokenizer_reference(tok, data), f)
    for extra in ("special_tokens_map.json", "chat_template.jinja"):
        if os.path.exists(os.path.join(folder, extra)):
            os.remove(os.path.join(folder, extra))
    sizes = {f: os.path.getsize(os.path.join(folder, f)) for f in sorted(os.listdir(folder))}
    print(f"{name}: {sum(sizes.values()) / 1e6:.2f} MB {sizes}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder to write the model folders into")
    parser.add_argument("--data", default="data", help="folder with heldout-kjv.txt and heldout-fortunes.txt")
    parser.add_argument("--models", default="models", help="the bundled models (their tokenizers get a tokenizer reference)")
    parser.add_argument("--only", default="", help="comma-separated families (default: all)")
    args = parser.parse_args()
    versions = {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
                "tokenizers": tokenizers.__version__}
    print("versions:", json.dumps(versions))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "versions.json"), "w") as f:
        json.dump(versions, f, indent=1)
    torch.set_grad_enabled(False)
    about = (f"Reference outputs of transformers {transformers.__version__} (PyTorch {torch.__version__}) for this random-init "
             "checkpoint, in float32 with eager attention. Same shape as models/tiny-llama's, plus greedy_40_cached_ids "
             "(greedy through transformers' KV cache) and a long public prompt that runs past a sliding window of 64.")
    failed = []
    wanted = [f for f in args.only.split(",") if f]
    for name, spec in families(args.data).items():
        if wanted and name not in wanted:
            continue
        try:
            build_family(name, spec, args.data, args.out, about)
        except Exception:
            failed.append(name)
            traceback.print_exc()
    for bundled in ("tiny-llama", "tiny-opt"):
        try:
            tok = transformers.AutoTokenizer.from_pretrained(os.path.join(args.models, bundled))
            os.makedirs(os.path.join(args.out, bundled), exist_ok=True)
            with open(os.path.join(args.out, bundled, "tokenizer-reference.json"), "w") as f:
                json.dump(tokenizer_reference(tok, args.data), f)
        except Exception:
            failed.append(bundled)
            traceback.print_exc()
    try:
        with open(os.path.join(args.out, "rope-reference.json"), "w") as f:
            json.dump(rope_reference(), f)
    except Exception:
        failed.append("rope")
        traceback.print_exc()
    print("failed:", failed or "none")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
