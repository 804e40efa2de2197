using AlisaCluster.Gateway.Sessions;
using AlisaCluster.Protos;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using static AlisaCluster.ClusterTesting.InProcessCluster;

namespace AlisaCluster.Gateway.Tests.Grpc;

/// <summary>Every bad request is INVALID_ARGUMENT naming its field. What the gateway checks leaves no session behind;
/// what only the worker can check leaves a complete session in state "failed" that names the field.</summary>
[Collection(DevClusterCollection.Name)]
public sealed class ValidationTests(DevClusterFixture fixture)
{
    public static TheoryData<string, string> Cases => new()
    {
        { "empty text", "text" },
        { "no input", "text" },
        { "empty token ids", "tokenized.ids" },
        { "token id outside vocab", "tokenized.ids" },
        { "negative token id", "tokenized.ids" },
        { "prompt + max_tokens over context", "sampling_params.max_tokens" },
        { "temperature < 0", "sampling_params.temperature" },
        { "top_p = 0", "sampling_params.top_p" },
        { "top_p > 1", "sampling_params.top_p" },
        { "top_k < 0", "sampling_params.top_k" },
        { "max_tokens = 0", "sampling_params.max_tokens" },
        { "repetition_penalty = 0", "sampling_params.repetition_penalty" },
        { "empty stop string", "sampling_params.stop" },
        { "stop token outside vocab", "sampling_params.stop_token_ids" },
        { "unknown policy", "kv_policy" },
        { "sparsity without policy", "kv_policy" },
        { "sparsity >= 1", "kv_sparsity" },
        { "sparse policy without sparsity", "kv_sparsity" },
        { "dense with sparsity", "kv_sparsity" },
        { "unknown swa option (checked by the worker)", "kv_policy" },
        { "bad request id", "request_id" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Bad_request_is_invalid_argument_naming_the_field(string name, string field)
    {
        var requestId = "validation-" + Guid.NewGuid().ToString("N");
        var request = Bad(name, requestId);
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var call = fixture.Cluster.Client().Generate(request, WithKey(DevClusterFixture.TesterKey));
            await foreach (var _ in call.ResponseStream.ReadAllAsync()) { }
        });
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.StartsWith(field + ":", error.Status.Detail);
        var sessions = fixture.Cluster.Gateway.GetRequiredService<ISessionStore>();
        var session = await sessions.GetAsync(requestId, CancellationToken.None);
        if (name.Contains("checked by the worker"))
        {
            Assert.Equal(SessionStates.Failed, session?.State);
            Assert.StartsWith(field + ":", session!.FinishReason);
            Assert.Empty(session.GeneratedTokens);
        }
        else Assert.Null(session);
    }

    [Fact]
    public async Task Tokenize_of_empty_text_is_invalid_argument()
    {
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
            await fixture.Cluster.Client().TokenizeAsync(new TokenizeRequest(), WithKey(DevClusterFixture.TesterKey)));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.StartsWith("text:", error.Status.Detail);
    }

    private static GenerateRequest Bad(string name, string requestId)
    {
        var request = new GenerateRequest { RequestId = requestId, Text = "In the beginning", SamplingParams = new Protos.SamplingParams { MaxTokens = 8 } };
        var sampling = request.SamplingParams;
        switch (name)
        {
            case "empty text": request.Text = ""; break;
            case "no input": request.ClearInput(); break;
            case "empty token ids": request.Tokenized = new TokenIds(); break;
            case "token id outside vocab": request.Tokenized = new TokenIds { Ids = { 1, 4096 } }; break;
            case "negative token id": request.Tokenized = new TokenIds { Ids = { 1, -3 } }; break;
            case "prompt + max_tokens over context": sampling.MaxTokens = 2045; break;
            case "temperature < 0": sampling.Temperature = -0.1; break;
            case "top_p = 0": sampling.TopP = 0; break;
            case "top_p > 1": sampling.TopP = 1.5; break;
            case "top_k < 0": sampling.TopK = -1; break;
            case "max_tokens = 0": sampling.MaxTokens = 0; break;
            case "repetition_penalty = 0": sampling.RepetitionPenalty = 0; break;
            case "empty stop string": sampling.Stop.Add(""); break;
            case "stop token outside vocab": sampling.StopTokenIds.Add(5000); break;
            case "unknown policy": request.KvPolicy = "lru"; request.KvSparsity = 0.5; break;
            case "sparsity without policy": request.KvSparsity = 0.5; break;
            case "sparsity >= 1": request.KvPolicy = "swa"; request.KvSparsity = 1.0; break;
            case "sparse policy without sparsity": request.KvPolicy = "h2o"; break;
            case "dense with sparsity": request.KvPolicy = "dense"; request.KvSparsity = 0.5; break;
            case "unknown swa option (checked by the worker)": request.KvPolicy = "swa:sinks=4:bogus"; request.KvSparsity = 0.8; break;
            case "bad request id": request.RequestId = "no spaces allowed"; break;
            default: throw new ArgumentException(name);
        }
        return request;
    }
}
