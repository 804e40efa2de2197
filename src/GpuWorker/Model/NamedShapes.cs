namespace AlisaCluster.GpuWorker.Model;

/// <summary>Configs of real published models, for benchmarks with random weights (--dummy-weights).</summary>
public static class NamedShapes
{
    public static readonly IReadOnlyDictionary<string, ModelConfig> All = new Dictionary<string, ModelConfig>
    {
        ["llama2-7b"] = Llama(hidden: 4096, intermediate: 11008, layers: 32, heads: 32, kvHeads: 32, vocab: 32000, maxPositions: 4096, theta: 10000),
        ["llama2-13b"] = Llama(hidden: 5120, intermediate: 13824, layers: 40, heads: 40, kvHeads: 40, vocab: 32000, maxPositions: 4096, theta: 10000),
        ["llama3-8b"] = Llama(hidden: 4096, intermediate: 14336, layers: 32, heads: 32, kvHeads: 8, vocab: 128256, maxPositions: 8192, theta: 500000),
        ["opt-6.7b"] = Opt(hidden: 4096, ffn: 16384, layers: 32, heads: 32),
        ["opt-13b"] = Opt(hidden: 5120, ffn: 20480, layers: 40, heads: 40),
    };

    public static ModelConfig Get(string name) =>
        All.TryGetValue(name, out var config) ? config
            : throw new ArgumentException($"unknown model shape '{name}' (known: {string.Join(", ", All.Keys)})", nameof(name));

    private static ModelConfig Llama(int hidden, int intermediate, int layers, int heads, int kvHeads, int vocab, int maxPositions, double theta) => new()
    {
        Architecture = ModelArchitecture.Llama, VocabSize = vocab, HiddenSize = hidden, IntermediateSize = intermediate,
        NumLayers = layers, NumHeads = heads, NumKvHeads = kvHeads, HeadDim = hidden / heads, MaxPositions = maxPositions,
        NormEps = 1e-5, Rope = new RopeScaling { Theta = theta }, CheckpointDType = TorchSharp.torch.ScalarType.BFloat16,
    };

    private static ModelConfig Opt(int hidden, int ffn, int layers, int heads) => new()
    {
        Architecture = ModelArchitecture.Opt, VocabSize = 50272, HiddenSize = hidden, IntermediateSize = ffn,
        NumLayers = layers, NumHeads = heads, NumKvHeads = heads, HeadDim = hidden / heads, MaxPositions = 2048,
        TieWordEmbeddings = true, BosTokenId = 2, EosTokenId = 2,
    };
}
