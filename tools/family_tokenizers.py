"""The tokenizers of tools/make_family_checkpoints.py: each family's pipeline, a BPE trained with Hugging Face
`tokenizers` on the held-out texts in data/, and the tokenizer reference (hard strings, every held-out line) that the
tests compare our tokenizer against."""
import json
import os

import tokenizers
import transformers
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

VOCAB = 2000
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
                  r"|\s+(?!\S)|\s+")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
                 r"|\s+(?!\S)|\s+")
HARD_STRINGS = [
    "", " ", "Hello world", "  leading and trailing  ", "a  b   c\t\t\td\n\n\ne    \n", "\n\n\n", "\t",
    "emoji 😀👍🏽 family 👨‍👩‍👧 flag 🇺🇦", "日本語のテキスト、中文字符和한국어", "Ελληνικά русский עברית العربية हिन्दी ไทย",
    "mixed: café naïve Straße ǅ ﬁ ½ ①", "e\u0301 vs \u00e9 (combining vs precomposed)", "Ａｌｌ ｆｕｌｌｗｉｄｔｈ",
    "numbers 1234567 3.14159 1,000,000", "def f(x):\n    return x ** 2  # code\n", "<s>special</s> literals <|eot_id|>",
    "It's, they're, we'll, I'd, you've", "a\u200bzero\u200bwidth\u00a0nbsp", "\u0000 nul and \u007f del",
]
INVALID_UTF16 = [[0x6F, 0x6B, 0x20, 0xD800, 0x20, 0x74], [0x78, 0xDC00, 0x79], [0xD83D]]


def heldout_lines(data):
    lines = []
    for name in ("heldout-kjv.txt", "heldout-fortunes.txt"):
        with open(os.path.join(data, name), encoding="utf-8") as f:
            lines += [(name, line.rstrip("\n")) for line in f if line.strip()]
    return lines


def training_text(data):
    return [line for _, line in heldout_lines(data)]


def byte_level_tokenizer(data, split_pattern, normalizer, specials, bos):
    """Llama-3 / Qwen2 style: (normalizer), Split by the family's regex, ByteLevel without its own regex."""
    tok = Tokenizer(models.BPE())
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(split_pattern), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB - len(specials), initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(training_text(data), trainer)
    tok.add_special_tokens(specials)
    if bos is None:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    else:
        tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                                           special_tokens=[(bos, tok.token_to_id(bos))])
    return tok


def sentencepiece_style_tokenizer(data, metaspace, extra_specials):
    """Llama-2 / Mistral / Phi-3 style BPE with byte fallback: <unk> <s> </s>, then <0x00>..<0xFF>, then the merges.
    metaspace=True: Metaspace pre-tokenizer (Mistral v3); False: Prepend+Replace normalizer (Llama-2, Phi-3)."""
    trained = Tokenizer(models.BPE(unk_token="<unk>"))
    # trained on words, as sentencepiece trains; served on whole texts (split=False / normalizer), as the families are
    trained.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True)
    base = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    trainer = trainers.BpeTrainer(vocab_size=VOCAB - len(extra_specials), special_tokens=base, limit_alphabet=120,
                                  show_progress=False)
    trained.train_from_iterator(training_text(data), trainer)
    spec = json.loads(trained.to_str())
    vocab, merges = spec["model"]["vocab"], [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in spec["model"]["merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    if metaspace:
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
        tok.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Metaspace(replacement="▁", prepend_scheme="first", split=False)])
    else:
        tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                         decoders.Strip(content=" ", left=1, right=0)])
    tok.add_special_tokens(["<unk>", "<s>", "</s>"] + extra_specials)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)])
    return tok


def tokenizer_reference(tok, data):
    hard = []
    for text in HARD_STRINGS:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        hard.append({"text": text, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=True)})
    for units in INVALID_UTF16:
        text = b"".join(u.to_bytes(2, "little") for u in units).decode("utf-16-le", errors="surrogatepass")
        try:
            tok(text, add_special_tokens=False)
            hard.append({"utf16": units, "error": None})
        except Exception as e:  # the Rust side takes only valid Unicode
            hard.append({"utf16": units, "error": f"{type(e).__name__}: {e}"[:200]})
    lines = heldout_lines(data)
    batch = tok([line for _, line in lines], add_special_tokens=True)["input_ids"]
    return {"hard_strings": hard,
            "heldout": {"files": ["heldout-kjv.txt", "heldout-fortunes.txt"],
                        "about": "every non-empty line of the files in order, newline stripped, encoded with special tokens",
                        "ids": batch},
            "_about": f"ids of transformers {transformers.__version__} / tokenizers {tokenizers.__version__} (AutoTokenizer)"}
