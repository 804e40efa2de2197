using AlisaCluster.Gateway.Sessions;
using AlisaCluster.Protos;
using Google.Protobuf;
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
        { "kv sinks overflow", "kv_policy" },
        { "kv sinks negative", "kv_policy" },
        { "kv local > 1", "kv_policy" },
        { "kv local not a number", "kv_policy" },
        { "kv_sparsity 0.999999", "kv_sparsity" },
        { "inline sparsity 0.999999", "kv_policy" },
        { "kv_policy 1 MB", "kv_policy" },
        { "max_tokens int.MaxValue", "sampling_params.max_tokens" },
        { "temperature 1e30", "sampling_params.temperature" },
        { "temperature +inf", "sampling_params.temperature" },
        { "temperature 1e-300", "sampling_params.temperature" },
        { "temperature NaN", "sampling_params.temperature" },
        { "repetition_penalty +inf", "sampling_params.repetition_penalty" },
        { "top_k int.MaxValue", "sampling_params.top_k" },
        { "100k stop strings", "sampling_params.stop" },
        { "1 MB stop string", "sampling_params.stop" },
        { "top_logprobs 21", "sampling_params.top_logprobs" },
        { "top_logprobs without logprobs", "sampling_params.top_logprobs" },
        { "n 0", "n" },
        { "n 17", "n" },
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
        Assert.True(error.StatusCode == StatusCode.InvalidArgument, $"{error.StatusCode}: {error.Status.Detail}");
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
    public async Task Temperature_message_names_the_range()
    {
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var call = fixture.Cluster.Client().Generate(Bad("temperature 1e30", "range-" + Guid.NewGuid().ToString("N")), WithKey(DevClusterFixture.TesterKey));
            await foreach (var _ in call.ResponseStream.ReadAllAsync()) { }
        });
        Assert.Contains("[0.0001, 100]", error.Status.Detail);
    }

    /// <summary>A C# client cannot send invalid UTF-8 in a string field, so the request is encoded by hand: valid
    /// bytes for a 4-byte text, then the text overwritten with bytes that are not UTF-8.</summary>
    [Fact]
    public async Task Invalid_utf8_text_is_invalid_argument()
    {
        var bytes = new GenerateRequest { Text = "AAAA", SamplingParams = new Protos.SamplingParams { MaxTokens = 4 } }.ToByteArray();
        int at = bytes.AsSpan().IndexOf("AAAA"u8);
        new byte[] { 0xC3, 0x28, 0xFF, 0xFE }.CopyTo(bytes, at);
        var raw = Marshallers.Create(b => b, b => b);
        var method = new Method<byte[], byte[]>(MethodType.ServerStreaming, "alisa.v1.Generation", "Generate", raw, raw);
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var call = fixture.Cluster.CallInvoker().AsyncServerStreamingCall(method, null, WithKey(DevClusterFixture.TesterKey), bytes);
            await foreach (var _ in call.ResponseStream.ReadAllAsync()) { }
        });
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.StartsWith("text:", error.Status.Detail);
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
            case "n 0": request.N = 0; break;
            case "n 17": request.N = 17; break;
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
            case "kv sinks overflow": request.KvPolicy = "swa:0.8:sinks=99999999999"; break;
            case "kv sinks negative": request.KvPolicy = "swa:sinks=-4"; request.KvSparsity = 0.8; break;
            case "kv local > 1": request.KvPolicy = "swa:0.8:local=2"; break;
            case "kv local not a number": request.KvPolicy = "swa:0.8:local=1e999"; break;
            case "kv_sparsity 0.999999": request.KvPolicy = "swa"; request.KvSparsity = 0.999999; break;
            case "inline sparsity 0.999999": request.KvPolicy = "h2o:0.999999"; break;
            case "kv_policy 1 MB": request.KvPolicy = "swa:0.8:" + new string('x', 1 << 20); break;
            case "max_tokens int.MaxValue": sampling.MaxTokens = int.MaxValue; break;
            case "temperature 1e30": sampling.Temperature = 1e30; break;
            case "temperature +inf": sampling.Temperature = double.PositiveInfinity; break;
            case "temperature 1e-300": sampling.Temperature = 1e-300; break;
            case "temperature NaN": sampling.Temperature = double.NaN; break;
            case "repetition_penalty +inf": sampling.RepetitionPenalty = double.PositiveInfinity; break;
            case "top_k int.MaxValue": sampling.TopK = int.MaxValue; break;
            case "100k stop strings": sampling.Stop.AddRange(Enumerable.Repeat("x", 100_000)); break;
            case "1 MB stop string": sampling.Stop.Add(new string('x', 1 << 20)); break;
            case "top_logprobs 21": sampling.Logprobs = true; sampling.TopLogprobs = 21; break;
            case "top_logprobs without logprobs": sampling.TopLogprobs = 2; break;
            default: throw new ArgumentException(name);
        }
        return request;
    }
}
