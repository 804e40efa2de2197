using System.Net;
using System.Text.Json;
using AlisaCluster.ClusterTesting;
using AlisaCluster.Gateway.Tests.OpenAi;
using AlisaCluster.Protos;
using static AlisaCluster.ClusterTesting.InProcessCluster;

namespace AlisaCluster.Gateway.Tests.Grpc;

/// <summary>The worker's prefix cache as the APIs report it: a prompt that repeats an earlier one's prefix counts the
/// shared full KV blocks as cached tokens, in gRPC usage.cached_tokens and OpenAI's usage.prompt_tokens_details.</summary>
[Collection(DevClusterCollection.Name)]
public sealed class CachedTokensTests(DevClusterFixture fixture) : IDisposable
{
    private readonly OpenAiHttp _http = new(fixture.Cluster.HttpPort);

    public void Dispose() => _http.Dispose();

    /// <summary>Token ids no other test sends, so nothing of them is cached yet.</summary>
    private static int[] FreshPrompt(int length) => [1, .. Enumerable.Range(0, length - 1).Select(_ => Random.Shared.Next(100, 3000))];

    private int BlockSize => fixture.Cluster.Engines.Engines.Single().Options.BlockSize;

    private async Task<GenerateComplete> GenerateAsync(int[] prompt) => (await StreamResult.ReadAsync(fixture.Cluster.Client().Generate(new GenerateRequest
    {
        Tokenized = new TokenIds { Ids = { prompt } }, SamplingParams = new Protos.SamplingParams { Temperature = 0, MaxTokens = 4, IgnoreEos = true },
    }, WithKey(DevClusterFixture.TesterKey)))).Complete;

    [Fact]
    public async Task Grpc_usage_counts_the_shared_full_blocks_of_a_repeated_prefix()
    {
        var prompt = FreshPrompt(3 * BlockSize + 5);
        Assert.Equal(0, (await GenerateAsync(prompt)).Usage.CachedTokens);
        var again = await GenerateAsync([.. prompt[..(3 * BlockSize + 2)], 7, 8, 9]);
        Assert.Equal(3 * BlockSize, again.Usage.CachedTokens);
        Assert.Equal(3 * BlockSize + 5, again.Usage.PromptTokens);
    }

    [Fact]
    public async Task OpenAi_usage_has_the_cached_tokens_in_prompt_tokens_details()
    {
        var prompt = FreshPrompt(2 * BlockSize + 3);
        async Task<int> CachedAsync()
        {
            var (status, body, _) = await _http.SendAsync("/v1/completions",
                JsonSerializer.Serialize(new { prompt, max_tokens = 4, temperature = 0 }), DevClusterFixture.TesterKey);
            Assert.Equal(HttpStatusCode.OK, status);
            return body.GetProperty("usage").GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32();
        }
        Assert.Equal(0, await CachedAsync());
        Assert.Equal(2 * BlockSize, await CachedAsync());
    }
}
