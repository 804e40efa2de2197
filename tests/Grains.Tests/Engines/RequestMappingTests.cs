using System.Text.Json.Nodes;
using AlisaCluster.Grains.Engines;
using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Model;

namespace AlisaCluster.Grains.Tests.Engines;

/// <summary>Sampling fields a request leaves unset take the model's generation_config.json values, then the API defaults.</summary>
public sealed class RequestMappingTests
{
    private static readonly GenerationDefaults Llama3Instruct =
        GenerationDefaults.Parse(JsonNode.Parse("""{"do_sample": true, "temperature": 0.6, "top_p": 0.9}""")!.AsObject(), "test");

    [Fact]
    public void UnsetFieldsTakeTheModelsGenerationDefaults()
    {
        var request = new SequenceRequest { RequestId = "r", PromptTokens = [1] };
        var sampling = RequestMapping.ToGeneration(request, KvPolicy.Parse("dense"), Llama3Instruct).Sampling;
        Assert.Equal((0.6, 0.9, 0, 1.0), (sampling.Temperature, sampling.TopP, sampling.TopK, sampling.RepetitionPenalty));
    }

    [Fact]
    public void SetFieldsWin_AndWithoutDefaultsTheApiDefaultsApply()
    {
        var request = new SequenceRequest { RequestId = "r", PromptTokens = [1], Temperature = 0, TopK = 5 };
        var sampling = RequestMapping.ToGeneration(request, KvPolicy.Parse("dense"), Llama3Instruct).Sampling;
        Assert.Equal((0.0, 0.9, 5), (sampling.Temperature, sampling.TopP, sampling.TopK));
        var plain = RequestMapping.ToGeneration(new SequenceRequest { RequestId = "r", PromptTokens = [1] }, KvPolicy.Parse("dense"), GenerationDefaults.None).Sampling;
        Assert.Equal((1.0, 1.0, 0, 1.0), (plain.Temperature, plain.TopP, plain.TopK, plain.RepetitionPenalty));
    }
}
