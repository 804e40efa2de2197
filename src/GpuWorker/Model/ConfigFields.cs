using System.Text.Json.Nodes;

namespace AlisaCluster.GpuWorker.Model;

/// <summary>Which config.json fields each supported family understands. A field outside these lists may change the
/// math (qk_norm, logit soft-capping, MoE, quantization, ...), so a config that has one is refused, naming it, rather
/// than loaded with the field ignored.</summary>
public static class ConfigFields
{
    public static readonly IReadOnlyList<string> ModelTypes = ["llama", "mistral", "qwen2", "phi3", "opt"];

    public static bool IsSupported(string modelType) => ModelTypes.Contains(modelType);

    // Bookkeeping transformers writes into config.json (and 4.x's serialised PretrainedConfig defaults, which are
    // generation and training settings): none of it enters the forward pass.
    private static readonly HashSet<string> Bookkeeping =
    [
        "model_type", "architectures", "transformers_version", "dtype", "torch_dtype", "use_cache", "bos_token_id", "eos_token_id",
        "pad_token_id", "sep_token_id", "decoder_start_token_id", "_name_or_path", "auto_map", "initializer_range", "init_std",
        "attention_dropout", "dropout", "activation_dropout", "layerdrop", "embd_pdrop", "resid_pdrop", "output_attentions",
        "output_hidden_states", "return_dict", "torchscript", "use_bfloat16", "tf_legacy_loss", "pruned_heads", "chunk_size_feed_forward",
        "is_encoder_decoder", "is_decoder", "add_cross_attention", "tie_encoder_decoder", "cross_attention_hidden_size", "max_length",
        "min_length", "do_sample", "early_stopping", "num_beams", "num_beam_groups", "diversity_penalty", "temperature", "top_k", "top_p",
        "typical_p", "repetition_penalty", "length_penalty", "no_repeat_ngram_size", "encoder_no_repeat_ngram_size", "bad_words_ids",
        "num_return_sequences", "output_scores", "return_dict_in_generate", "forced_bos_token_id", "forced_eos_token_id",
        "remove_invalid_values", "exponential_decay_length_penalty", "suppress_tokens", "begin_suppress_tokens", "finetuning_task",
        "id2label", "label2id", "tokenizer_class", "prefix", "task_specific_params", "problem_type", "_from_model_config",
        // pretraining_tp splits the projections into slices whose results add up to the same matmul
        "pretraining_tp",
    ];

    private static readonly string[] LlamaShape =
    [
        "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
        "max_position_embeddings", "rms_norm_eps", "rope_theta", "rope_scaling", "rope_parameters", "tie_word_embeddings", "hidden_act",
        "partial_rotary_factor",
    ];

    private static readonly Dictionary<string, HashSet<string>> Understood = new()
    {
        ["llama"] = [.. LlamaShape, "attention_bias", "mlp_bias", "sliding_window"],
        ["mistral"] = [.. LlamaShape, "sliding_window", "attention_bias", "layer_types"],
        ["qwen2"] = [.. LlamaShape, "sliding_window", "use_sliding_window", "max_window_layers", "layer_types"],
        ["phi3"] = [.. LlamaShape, "sliding_window", "original_max_position_embeddings", "layer_types"],
        ["opt"] =
        [
            "vocab_size", "hidden_size", "ffn_dim", "num_hidden_layers", "num_attention_heads", "max_position_embeddings",
            "do_layer_norm_before", "word_embed_proj_dim", "activation_function", "enable_bias", "layer_norm_elementwise_affine",
            "_remove_final_layer_norm", "tie_word_embeddings",
        ],
    };

    /// <summary>Throws <see cref="NotSupportedException"/> naming every field of <paramref name="json"/> that neither the
    /// family's parser nor the bookkeeping list accounts for.</summary>
    public static void RefuseUnknown(JsonObject json, string modelType, string source)
    {
        var unknown = json.Select(p => p.Key).Where(k => !Bookkeeping.Contains(k) && !Understood[modelType].Contains(k)).ToList();
        if (unknown.Count > 0)
            throw new NotSupportedException($"{source}: {modelType} config field(s) {string.Join(", ", unknown.Select(k => $"'{k}'"))} are not " +
                "understood; they may change the model's math, so the checkpoint is refused rather than run with them ignored");
    }
}
