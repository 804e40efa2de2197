using System.Text.Json;
using System.Text.Json.Nodes;
using AlisaCluster.GpuWorker.Model;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Tests.Model;

/// <summary>Every RoPE variant's cos/sin against transformers' own rotary embedding (models/rope-reference.json).</summary>
public sealed class RopeReferenceTests
{
    private static readonly JsonElement Reference =
        JsonDocument.Parse(File.ReadAllText(Path.Combine(RepoPaths.Root, "models", "rope-reference.json"))).RootElement;

    public static TheoryData<string> Variants =>
        new(Reference.GetProperty("variants").EnumerateObject().Select(v => v.Name));

    [Theory, MemberData(nameof(Variants))]
    public void CosAndSinMatchTransformers(string variant)
    {
        var v = Reference.GetProperty("variants").GetProperty(variant);
        int headDim = Reference.GetProperty("head_dim").GetInt32(), maxPositions = Reference.GetProperty("max_position_embeddings").GetInt32();
        var config = new JsonObject { ["rope_parameters"] = JsonNode.Parse(v.GetProperty("rope").GetRawText())!.AsObject() };
        config["rope_parameters"]!["rope_theta"] = Reference.GetProperty("theta").GetDouble();
        var rope = RopeScaling.Parse(config, headDim, maxPositions, variant);
        using var embedding = new RotaryEmbedding(headDim, maxPositions, rope, CPU, ScalarType.Float32, ScalarType.Float32);
        int length = v.TryGetProperty("length", out var l) ? l.GetInt32() : maxPositions;
        var positions = Reference.GetProperty("positions").EnumerateArray().Select(p => p.GetInt64()).Where(p => p < length).ToArray();
        // the forward's last position decides longrope's factors, as in transformers' call over `length` positions
        using var all = Scalars.Arange(length).view(1, -1);
        var (cos, sin) = embedding.Angles(all);
        for (int i = 0; i < positions.Length; i++)
        {
            var expectedCos = v.GetProperty("cos")[i].EnumerateArray().Select(e => e.GetDouble()).ToArray();
            var expectedSin = v.GetProperty("sin")[i].EnumerateArray().Select(e => e.GetDouble()).ToArray();
            var actualCos = cos[0, 0, positions[i]].data<float>().ToArray();
            var actualSin = sin[0, 0, positions[i]].data<float>().ToArray();
            for (int d = 0; d < headDim; d++)
            {
                Assert.Equal(expectedCos[d], actualCos[d], 1e-4);
                Assert.Equal(expectedSin[d], actualSin[d], 1e-4);
            }
        }
    }
}
