using AlisaCluster.ClusterTesting;
using AlisaCluster.GpuWorker.Engine;
using AlisaCluster.GpuWorker.Model;
using AlisaCluster.Protos;
using Grpc.Core;
using FinishReason = AlisaCluster.Protos.FinishReason;
using static AlisaCluster.ClusterTesting.InProcessCluster;

namespace AlisaCluster.Gateway.Tests.Grpc;

/// <summary>The gateway's stream is exactly what the engine produces when called directly.</summary>
[Collection(DevClusterCollection.Name)]
public sealed class GenerateStreamTests(DevClusterFixture fixture)
{
    private const string Prompt = "And it came to pass, when the king heard";

    [Fact]
    public async Task Seeded_sampling_stream_equals_the_engines_direct_output()
    {
        var sampling = new Protos.SamplingParams { Temperature = 0.8, TopP = 0.95, TopK = 40, MaxTokens = 40, Seed = 42, RepetitionPenalty = 1.1 };
        var viaGateway = await StreamResult.ReadAsync(fixture.Cluster.Client().Generate(
            new GenerateRequest { Text = Prompt, SamplingParams = sampling }, WithKey(DevClusterFixture.TesterKey)));

        var direct = await DirectAsync(tokenizer => tokenizer.Encode(Prompt), new GpuWorker.Engine.SamplingParams
        {
            Temperature = 0.8, TopP = 0.95, TopK = 40, MaxTokens = 40, Seed = 42, RepetitionPenalty = 1.1,
        });
        Assert.Equal(direct.Tokens, viaGateway.Tokens);
        Assert.Equal(direct.Text, viaGateway.Text);
        Assert.Equal(direct.Finish, viaGateway.Complete.FinishReason);
        Assert.Equal(direct.PromptTokens, viaGateway.Complete.Usage.PromptTokens);
        Assert.Equal(viaGateway.Tokens.Count, viaGateway.Complete.Usage.CompletionTokens);
        Assert.Equal(0, viaGateway.Complete.Usage.Resumes);
    }

    [Fact]
    public async Task Greedy_token_id_prompt_with_logprobs_equals_the_engines_direct_output()
    {
        int[] prompt = [1, 450, 1002, 310, 278, 3303];
        var viaGateway = await StreamResult.ReadAsync(fixture.Cluster.Client().Generate(new GenerateRequest
        {
            Tokenized = new TokenIds { Ids = { prompt } },
            SamplingParams = new Protos.SamplingParams { Temperature = 0, MaxTokens = 24, Logprobs = true, IgnoreEos = true },
        }, WithKey(DevClusterFixture.TesterKey)));

        var direct = await DirectAsync(_ => prompt, new GpuWorker.Engine.SamplingParams { Temperature = 0, MaxTokens = 24, IgnoreEos = true });
        Assert.Equal(direct.Tokens, viaGateway.Tokens);
        Assert.Equal(direct.Logprobs, viaGateway.Logprobs);
        Assert.Equal(FinishReason.Length, viaGateway.Complete.FinishReason);
        Assert.Equal(24, viaGateway.Complete.Usage.CompletionTokens);
        Assert.Equal(prompt.Length + 24, viaGateway.Complete.Usage.TotalTokens);
    }

    [Fact]
    public async Task Top_logprobs_come_with_each_token_and_lead_with_the_greedy_choice()
    {
        using var call = fixture.Cluster.Client().Generate(new GenerateRequest
        {
            Text = "In the beginning", SamplingParams = new Protos.SamplingParams { Temperature = 0, MaxTokens = 6, Logprobs = true, TopLogprobs = 4, IgnoreEos = true },
        }, WithKey(DevClusterFixture.TesterKey));
        var chunks = new List<GenerateChunk>();
        await foreach (var response in call.ResponseStream.ReadAllAsync()) if (response.Chunk is { } chunk) chunks.Add(chunk);
        Assert.Equal(6, chunks.Count);
        Assert.All(chunks, c =>
        {
            var top = Assert.Single(c.TopLogprobs);
            Assert.Equal(4, top.TokenIds.Count);
            Assert.Equal(c.TokenIds[0], top.TokenIds[0]);
            Assert.Equal(c.Logprobs[0], top.Logprobs[0]);
        });
    }

    [Fact]
    public async Task Tokenize_and_model_info_come_from_the_workers_model()
    {
        var client = fixture.Cluster.Client();
        var tokens = await client.TokenizeAsync(new TokenizeRequest { Text = Prompt, AddSpecialTokens = true }, WithKey(DevClusterFixture.TesterKey));
        using var model = LoadedModel.FromCheckpoint(RepoPaths.TinyModel, DeviceChoice.Parse("cpu", null));
        Assert.Equal(model.Tokenizer.Encode(Prompt), tokens.TokenIds);
        Assert.Equal(tokens.TokenIds.Count, tokens.Count);

        var info = await client.GetModelInfoAsync(new GetModelInfoRequest(), WithKey(DevClusterFixture.TesterKey));
        Assert.Equal("tiny-llama", info.ModelName);
        Assert.Equal(model.Config.VocabSize, info.VocabSize);
        Assert.Equal(model.Config.MaxPositions, info.MaxContextLength);
        Assert.Equal(1, info.WorkerSilos);
        Assert.Contains("swa", info.KvPolicies);
    }

    private sealed record DirectResult(List<int> Tokens, string Text, List<float> Logprobs, FinishReason Finish, int PromptTokens);

    private static async Task<DirectResult> DirectAsync(Func<GpuWorker.Tokenization.HfTokenizer, IReadOnlyList<int>> prompt,
        GpuWorker.Engine.SamplingParams sampling)
    {
        using var model = LoadedModel.FromCheckpoint(RepoPaths.TinyModel, DeviceChoice.Parse("cpu", null));
        await using var engine = new InferenceEngine(model, new EngineOptions { KvCapacityTokens = 4096 });
        var result = new DirectResult([], "", [], FinishReason.Unspecified, 0);
        var text = new System.Text.StringBuilder();
        await foreach (var item in engine.GenerateAsync(new GenerationRequest("direct", prompt(model.Tokenizer), sampling)))
        {
            if (item.TokenId >= 0) { result.Tokens.Add(item.TokenId); result.Logprobs.Add(item.Logprob); }
            text.Append(item.Text);
            if (item.Finish is { } finish)
                result = result with { Finish = finish switch { GpuWorker.Engine.FinishReason.Stop => FinishReason.Stop, GpuWorker.Engine.FinishReason.Length => FinishReason.Length, _ => FinishReason.Abort }, PromptTokens = item.PromptTokens };
        }
        return result with { Text = text.ToString() };
    }
}
