using System.ClientModel;
using System.Text;
using AlisaCluster.ClusterTesting;
using AlisaCluster.Gateway.ChatTemplates;
using AlisaCluster.Protos;
using OpenAI;
using OpenAI.Chat;
using static AlisaCluster.ClusterTesting.InProcessCluster;

#pragma warning disable OPENAI001 // Seed is marked experimental in the SDK

namespace AlisaCluster.Gateway.Tests.OpenAi;

/// <summary>The official OpenAI .NET SDK as a real client of the gateway's HTTP API: what it streams and returns is
/// exactly what gRPC Generate streams for the same prompt tokens and sampling (seeded), usage included. (The SDK has no
/// public completions client; /v1/completions is tested over raw HTTP in OpenAiHttpTests and with the Node SDK.)</summary>
[Collection(DevClusterCollection.Name)]
public sealed class OpenAiSdkTests(DevClusterFixture fixture)
{
    private const string Model = "tiny-llama";

    private OpenAIClient Client(string key = DevClusterFixture.TesterKey) =>
        new(new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = new Uri(OpenAiHttp.BaseUrl(fixture.Cluster.HttpPort)) });

    private static readonly List<ChatMessage> Conversation = [new SystemChatMessage("You are a storyteller."), new UserChatMessage("Tell me about the king.")];

    /// <summary>The chat prompt's token ids as the gateway builds them: the fallback template (tiny-llama has none), no added specials.</summary>
    private async Task<int[]> ChatPromptTokensAsync()
    {
        var text = ChatTemplate.Parse(ChatPrompts.Fallback).Render(
            [("system", "You are a storyteller."), ("user", "Tell me about the king.")], addGenerationPrompt: true, "<s>", "</s>");
        var tokens = await fixture.Cluster.Client().TokenizeAsync(new TokenizeRequest { Text = text, AddSpecialTokens = false }, WithKey(DevClusterFixture.TesterKey));
        return [.. tokens.TokenIds];
    }

    private async Task<StreamResult> GrpcAsync(GenerateRequest request) =>
        await StreamResult.ReadAsync(fixture.Cluster.Client().Generate(request, WithKey(DevClusterFixture.TesterKey)));

    [Fact]
    public async Task Streamed_chat_completion_equals_the_grpc_stream_for_the_same_seed()
    {
        var options = new ChatCompletionOptions { Temperature = 0.8f, TopP = 0.95f, Seed = 42, MaxOutputTokenCount = 32, FrequencyPenalty = 0.5f };
        var text = new StringBuilder();
        ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        int updates = 0;
        await foreach (var update in Client().GetChatClient(Model).CompleteChatStreamingAsync(Conversation, options))
        {
            updates++;
            foreach (var part in update.ContentUpdate) text.Append(part.Text);
            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }

        var prompt = await ChatPromptTokensAsync();
        var grpc = await GrpcAsync(new GenerateRequest
        {
            Tokenized = new TokenIds { Ids = { prompt } },
            SamplingParams = new Protos.SamplingParams { Temperature = 0.8f, TopP = 0.95f, Seed = 42, MaxTokens = 32, FrequencyPenalty = 0.5f },
        });
        Assert.Equal(grpc.Text, text.ToString());
        Assert.True(updates > 3, $"the reply came in {updates} updates; it should stream");
        Assert.NotNull(usage);
        Assert.Equal(prompt.Length, usage.InputTokenCount);
        Assert.Equal(grpc.Complete.Usage.CompletionTokens, usage.OutputTokenCount);
        Assert.Equal(prompt.Length + grpc.Complete.Usage.CompletionTokens, usage.TotalTokenCount);
        Assert.Equal(grpc.Complete.FinishReason == FinishReason.Length ? ChatFinishReason.Length : ChatFinishReason.Stop, finish);
    }

    [Fact]
    public async Task Chat_completion_without_streaming_equals_the_grpc_stream()
    {
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 20, EndUserId = "user-1" };
        ChatCompletion completion = await Client().GetChatClient(Model).CompleteChatAsync(Conversation, options);

        var prompt = await ChatPromptTokensAsync();
        var grpc = await GrpcAsync(new GenerateRequest
        {
            Tokenized = new TokenIds { Ids = { prompt } }, SamplingParams = new Protos.SamplingParams { Temperature = 0, MaxTokens = 20 },
        });
        Assert.Equal(grpc.Text, completion.Content[0].Text);
        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.Equal(Model, completion.Model);
        Assert.Equal(prompt.Length, completion.Usage.InputTokenCount);
        Assert.Equal(grpc.Tokens.Count, completion.Usage.OutputTokenCount);
        Assert.Equal(grpc.Complete.FinishReason == FinishReason.Length ? ChatFinishReason.Length : ChatFinishReason.Stop, completion.FinishReason);
    }

    [Fact]
    public async Task Models_lists_the_served_model()
    {
        var models = await Client().GetOpenAIModelClient().GetModelsAsync();
        Assert.Equal([Model], models.Value.Select(m => m.Id));
        var model = await Client().GetOpenAIModelClient().GetModelAsync(Model);
        Assert.Equal(Model, model.Value.Id);
    }

    [Fact]
    public async Task Sdk_sees_unknown_model_and_bad_key_as_404_and_401()
    {
        var unknown = await Assert.ThrowsAsync<ClientResultException>(() => Client().GetChatClient("gpt-4o").CompleteChatAsync(Conversation));
        Assert.Equal(404, unknown.Status);
        Assert.Contains("'gpt-4o' does not exist", unknown.Message);
        var badKey = await Assert.ThrowsAsync<ClientResultException>(() => Client("not-a-key").GetChatClient(Model).CompleteChatAsync(Conversation));
        Assert.Equal(401, badKey.Status);
        Assert.Contains("unknown API key", badKey.Message);
    }
}
