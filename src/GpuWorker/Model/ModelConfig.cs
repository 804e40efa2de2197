using System.Text.Json;
using System.Text.Json.Nodes;

namespace AlisaCluster.GpuWorker.Model;

public enum ModelArchitecture { Llama, Opt }

/// <summary>The parts of a Hugging Face config.json that the forward pass needs, for Llama and OPT.</summary>
public sealed record ModelConfig
{
    public required ModelArchitecture Architecture { get; init; }
    public required int VocabSize { get; init; }
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int NumLayers { get; init; }
    public required int NumHeads { get; init; }
    public required int NumKvHeads { get; init; }
    public required int HeadDim { get; init; }
    public required int MaxPositions { get; init; }
    public double NormEps { get; init; } = 1e-5;
    public double RopeTheta { get; init; } = 10000.0;
    public bool TieWordEmbeddings { get; init; }
    public int BosTokenId { get; init; } = 1;
    public int EosTokenId { get; init; } = 2;
    /// <summary>The dtype the checkpoint is stored in (config "dtype" / "torch_dtype").</summary>
    public TorchSharp.torch.ScalarType CheckpointDType { get; init; } = TorchSharp.torch.ScalarType.Float32;

    /// <summary>Query heads that share one KV head (1 without GQA).</summary>
    public int QueriesPerKvHead => NumHeads / NumKvHeads;

    /// <summary>OPT's learned position table starts at index 2 (a fairseq legacy).</summary>
    public const int OptPositionOffset = 2;

    public static ModelConfig Load(string configPath)
    {
        if (!File.Exists(configPath)) throw new FileNotFoundException($"model config not found: {configPath}", configPath);
        JsonObject json;
        try { json = JsonNode.Parse(File.ReadAllText(configPath))?.AsObject() ?? throw new InvalidDataException("empty"); }
        catch (Exception e) when (e is JsonException or InvalidOperationException or InvalidDataException)
        { throw new InvalidDataException($"{configPath}: not a JSON object ({e.Message})", e); }
        return Parse(json, configPath);
    }

    public static ModelConfig Parse(JsonObject json, string source)
    {
        var modelType = (string?)json["model_type"] ?? "";
        return modelType switch
        {
            "llama" or "mistral" => ParseLlama(json, source),
            "opt" => ParseOpt(json, source),
            _ => throw new NotSupportedException(
                $"{source}: model_type '{modelType}' is not supported (supported: llama, mistral, opt)"),
        };
    }

    private static ModelConfig ParseLlama(JsonObject json, string source)
    {
        var ropeParameters = json["rope_parameters"] as JsonObject;
        var ropeScaling = json["rope_scaling"] as JsonObject;
        var ropeType = (string?)ropeParameters?["rope_type"] ?? (string?)ropeScaling?["rope_type"] ?? (string?)ropeScaling?["type"] ?? "default";
        if (ropeType != "default")
            throw new NotSupportedException($"{source}: rope type '{ropeType}' (rope_scaling) is not supported yet; only default RoPE is");
        int heads = Required(json, "num_attention_heads", source);
        int hidden = Required(json, "hidden_size", source);
        return new ModelConfig
        {
            Architecture = ModelArchitecture.Llama,
            VocabSize = Required(json, "vocab_size", source),
            HiddenSize = hidden,
            IntermediateSize = Required(json, "intermediate_size", source),
            NumLayers = Required(json, "num_hidden_layers", source),
            NumHeads = heads,
            NumKvHeads = (int?)json["num_key_value_heads"] ?? heads,
            HeadDim = (int?)json["head_dim"] ?? hidden / heads,
            MaxPositions = (int?)json["max_position_embeddings"] ?? 2048,
            NormEps = (double?)json["rms_norm_eps"] ?? 1e-6,
            RopeTheta = (double?)ropeParameters?["rope_theta"] ?? (double?)json["rope_theta"] ?? 10000.0,
            TieWordEmbeddings = (bool?)json["tie_word_embeddings"] ?? false,
            BosTokenId = (int?)json["bos_token_id"] ?? 1,
            EosTokenId = FirstInt(json["eos_token_id"]) ?? 2,
            CheckpointDType = StoredDType(json),
        };
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
        return new ModelConfig
        {
            Architecture = ModelArchitecture.Opt,
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
            EosTokenId = FirstInt(json["eos_token_id"]) ?? 2,
        };
    }

    private static int Required(JsonObject json, string key, string source) =>
        (int?)json[key] ?? throw new InvalidDataException($"{source}: required field '{key}' is missing");

    private static int? FirstInt(JsonNode? node) => node switch
    {
        JsonArray array when array.Count > 0 => (int?)array[0],
        JsonValue value => (int?)value,
        _ => null,
    };
}
