using System.Text.Json;
using System.Text.Json.Nodes;

namespace AlisaCluster.GpuWorker.Model;

/// <summary>Llama covers the Llama-shaped families (llama, mistral, qwen2, phi3: RMSNorm, RoPE, SwiGLU, GQA); Opt is OPT.</summary>
public enum ModelArchitecture { Llama, Opt }

/// <summary>The parts of a Hugging Face config.json (and generation_config.json beside it) that the forward pass and
/// generation need. Every field that changes the math is honoured or refused (<see cref="ConfigFields"/>).</summary>
public sealed record ModelConfig
{
    public required ModelArchitecture Architecture { get; init; }
    /// <summary>config.json's model_type: llama, mistral, qwen2, phi3 or opt (tensor names and layer details follow it).</summary>
    public string ModelType { get; init; } = "llama";
    public required int VocabSize { get; init; }
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int NumLayers { get; init; }
    public required int NumHeads { get; init; }
    public required int NumKvHeads { get; init; }
    public required int HeadDim { get; init; }
    public required int MaxPositions { get; init; }
    public double NormEps { get; init; } = 1e-5;
    public RopeScaling Rope { get; init; } = RopeScaling.Default;
    public bool TieWordEmbeddings { get; init; }
    /// <summary>Biases on the q/k/v projections (Qwen2; Llama with attention_bias).</summary>
    public bool QkvBias { get; init; }
    /// <summary>A bias on the attention output projection (Llama with attention_bias).</summary>
    public bool OutputBias { get; init; }
    /// <summary>Sliding-window attention (Mistral, Phi-3): a query at position i reads keys i - W + 1 .. i only.</summary>
    public int? SlidingWindow { get; init; }
    public int BosTokenId { get; init; } = 1;
    /// <summary>The first end-of-sequence id of config.json (what an evaluation appends after a document).</summary>
    public int EosTokenId { get; init; } = 2;
    /// <summary>Every id that ends generation: config.json's and generation_config.json's, together.</summary>
    public IReadOnlyList<int> EosTokenIds { get; init; } = [2];
    public GenerationDefaults Generation { get; init; } = GenerationDefaults.None;
    /// <summary>The dtype the checkpoint is stored in (config "dtype" / "torch_dtype").</summary>
    public TorchSharp.torch.ScalarType CheckpointDType { get; init; } = TorchSharp.torch.ScalarType.Float32;

    /// <summary>Query heads that share one KV head (1 without GQA).</summary>
    public int QueriesPerKvHead => NumHeads / NumKvHeads;

    /// <summary>OPT's learned position table starts at index 2 (a fairseq legacy).</summary>
    public const int OptPositionOffset = 2;

    /// <summary>Reads config.json and, when it is there, generation_config.json in the same folder.</summary>
    public static ModelConfig Load(string configPath)
    {
        var config = Parse(ReadObject(configPath), configPath);
        var generationPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(configPath))!, "generation_config.json");
        return File.Exists(generationPath) ? config.WithGenerationConfig(ReadObject(generationPath), generationPath) : config;
    }

    private static JsonObject ReadObject(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"model config not found: {path}", path);
        try { return JsonNode.Parse(File.ReadAllText(path))?.AsObject() ?? throw new InvalidDataException("empty"); }
        catch (Exception e) when (e is JsonException or InvalidOperationException or InvalidDataException)
        { throw new InvalidDataException($"{path}: not a JSON object ({e.Message})", e); }
    }

    public static ModelConfig Parse(JsonObject json, string source)
    {
        var modelType = (string?)json["model_type"] ?? "";
        if (!ConfigFields.IsSupported(modelType))
            throw new NotSupportedException($"{source}: model_type '{modelType}' is not supported (supported: {string.Join(", ", ConfigFields.ModelTypes)})");
        ConfigFields.RefuseUnknown(json, modelType, source);
        return modelType == "opt" ? ParseOpt(json, source) : ParseLlamaFamily(json, modelType, source);
    }

    /// <summary>Adds generation_config.json: its EOS ids join config.json's, its sampling fields become the defaults.</summary>
    private ModelConfig WithGenerationConfig(JsonObject json, string source) => this with
    {
        EosTokenIds = EosTokenIds.Concat(Ints(json["eos_token_id"], source, "eos_token_id")).Distinct().ToArray(),
        Generation = GenerationDefaults.Parse(json, source),
    };

    private static ModelConfig ParseLlamaFamily(JsonObject json, string modelType, string source)
    {
        var act = (string?)json["hidden_act"] ?? "silu";
        if (act != "silu") throw new NotSupportedException($"{source}: hidden_act '{act}' is not supported (only silu)");
        if ((bool?)json["mlp_bias"] == true) throw new NotSupportedException($"{source}: mlp_bias true is not supported");
        bool attentionBias = (bool?)json["attention_bias"] ?? false;
        if (attentionBias && modelType != "llama")
            throw new NotSupportedException($"{source}: attention_bias is a Llama field; transformers' {modelType} ignores it, so a checkpoint that sets it is refused");
        int heads = Required(json, "num_attention_heads", source);
        int hidden = Required(json, "hidden_size", source);
        int headDim = (int?)json["head_dim"] ?? hidden / heads;
        int maxPositions = (int?)json["max_position_embeddings"] ?? 2048;
        var (eos, eosIds) = Eos(json, source, 2);
        return new ModelConfig
        {
            Architecture = ModelArchitecture.Llama,
            ModelType = modelType,
            VocabSize = Required(json, "vocab_size", source),
            HiddenSize = hidden,
            IntermediateSize = Required(json, "intermediate_size", source),
            NumLayers = Required(json, "num_hidden_layers", source),
            NumHeads = heads,
            NumKvHeads = (int?)json["num_key_value_heads"] ?? heads,
            HeadDim = headDim,
            MaxPositions = maxPositions,
            NormEps = (double?)json["rms_norm_eps"] ?? 1e-6,
            Rope = RopeScaling.Parse(json, headDim, maxPositions, source),
            TieWordEmbeddings = (bool?)json["tie_word_embeddings"] ?? false,
            QkvBias = modelType == "qwen2" || attentionBias,
            OutputBias = attentionBias,
            SlidingWindow = SlidingWindowOf(json, modelType, source),
            BosTokenId = (int?)json["bos_token_id"] ?? 1,
            EosTokenId = eos,
            EosTokenIds = eosIds,
            CheckpointDType = StoredDType(json),
        };
    }

    /// <summary>Mistral and Phi-3 window every layer when sliding_window is set; Qwen2 only with use_sliding_window,
    /// and then per layer (max_window_layers), which is refused; Llama has no window, so a config that sets one is refused.</summary>
    private static int? SlidingWindowOf(JsonObject json, string modelType, string source)
    {
        int? window = (int?)json["sliding_window"];
        var layerTypes = (json["layer_types"] as JsonArray)?.Select(t => (string?)t).Distinct().ToList() ?? [];
        if (layerTypes.Any(t => t is not ("full_attention" or "sliding_attention")))
            throw new NotSupportedException($"{source}: layer_types holds a kind other than full_attention / sliding_attention");
        if (layerTypes.Count > 1) throw new NotSupportedException($"{source}: layer_types mixes full and sliding-window layers; not supported");
        switch (modelType)
        {
            case "qwen2":
                if ((bool?)json["use_sliding_window"] == true)
                    throw new NotSupportedException($"{source}: use_sliding_window (Qwen2's per-layer window) is not supported");
                return null;
            case "llama":
                if (window is not null) throw new NotSupportedException($"{source}: sliding_window is not a Llama field (transformers ignores it); refused rather than ignored");
                return null;
            default:
                if (layerTypes is ["full_attention"]) return null;
                if (window is <= 0) throw new InvalidDataException($"{source}: sliding_window must be positive, got {window}");
                return window;
        }
    }

    private static TorchSharp.torch.ScalarType StoredDType(JsonObject json) =>
        ((string?)json["dtype"] ?? (string?)json["torch_dtype"]) switch
        {
            "bfloat16" => TorchSharp.torch.ScalarType.BFloat16,
            "float16" => TorchSharp.torch.ScalarType.Float16,
            _ => TorchSharp.torch.ScalarType.Float32,
        };

    private static ModelConfig ParseOpt(JsonObject json, string source)
    {
        if (!((bool?)json["do_layer_norm_before"] ?? true))
            throw new NotSupportedException($"{source}: OPT with do_layer_norm_before=false (opt-350m) is not supported");
        int hidden = Required(json, "hidden_size", source);
        int heads = Required(json, "num_attention_heads", source);
        if (((int?)json["word_embed_proj_dim"] ?? hidden) != hidden)
            throw new NotSupportedException($"{source}: OPT with word_embed_proj_dim != hidden_size is not supported");
        var act = (string?)json["activation_function"] ?? "relu";
        if (act != "relu") throw new NotSupportedException($"{source}: OPT activation_function '{act}' is not supported (only relu)");
        if ((bool?)json["enable_bias"] == false || (bool?)json["layer_norm_elementwise_affine"] == false || (bool?)json["_remove_final_layer_norm"] == true)
            throw new NotSupportedException($"{source}: OPT without biases, without affine layer norms or without the final layer norm is not supported");
        var (eos, eosIds) = Eos(json, source, 2);
        return new ModelConfig
        {
            Architecture = ModelArchitecture.Opt,
            ModelType = "opt",
            VocabSize = Required(json, "vocab_size", source),
            HiddenSize = hidden,
            IntermediateSize = Required(json, "ffn_dim", source),
            NumLayers = Required(json, "num_hidden_layers", source),
            NumHeads = heads,
            NumKvHeads = heads,
            HeadDim = hidden / heads,
            MaxPositions = (int?)json["max_position_embeddings"] ?? 2048,
            NormEps = 1e-5,
            TieWordEmbeddings = (bool?)json["tie_word_embeddings"] ?? true,
            BosTokenId = (int?)json["bos_token_id"] ?? 2,
            EosTokenId = eos,
            EosTokenIds = eosIds,
        };
    }

    private static (int First, int[] All) Eos(JsonObject json, string source, int fallback)
    {
        var ids = Ints(json["eos_token_id"], source, "eos_token_id");
        return ids.Length > 0 ? (ids[0], ids) : (fallback, [fallback]);
    }

    private static int Required(JsonObject json, string key, string source) =>
        (int?)json[key] ?? throw new InvalidDataException($"{source}: required field '{key}' is missing");

    /// <summary>An id or a list of ids (eos_token_id is either), empty when absent or null.</summary>
    private static int[] Ints(JsonNode? node, string source, string key)
    {
        try
        {
            return node switch
            {
                null => [],
                JsonArray array => array.Select(n => (int)n!).ToArray(),
                _ => [(int)node],
            };
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException or NullReferenceException)
        { throw new InvalidDataException($"{source}: '{key}' must be an integer or a list of integers", e); }
    }
}
