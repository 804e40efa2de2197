using System.Net;
using System.Text;
using System.Text.Json;
using AlisaCluster.ClusterTesting;
using AlisaCluster.Gateway.Sessions;
using AlisaCluster.Protos;
using static AlisaCluster.ClusterTesting.InProcessCluster;

namespace AlisaCluster.Gateway.Tests.OpenAi;

/// <summary>/v1/completions over raw HTTP (status codes, SSE framing, error bodies), against gRPC Generate as the reference.</summary>
[Collection(DevClusterCollection.Name)]
public sealed class OpenAiHttpTests(DevClusterFixture fixture) : IDisposable
{
    private const string Prompt = "And it came to pass, when the king heard";
    private readonly OpenAiHttp _http = new(fixture.Cluster.HttpPort);

    public void Dispose() => _http.Dispose();

    private async Task<StreamResult> GrpcAsync(Protos.SamplingParams sampling) => await StreamResult.ReadAsync(
        fixture.Cluster.Client().Generate(new GenerateRequest { Text = Prompt, SamplingParams = sampling }, WithKey(DevClusterFixture.TesterKey)));

    [Fact]
    public async Task Streamed_completion_equals_the_grpc_stream_and_reports_usage_last()
    {
        var body = JsonSerializer.Serialize(new
        {
            model = "tiny-llama", prompt = Prompt, max_tokens = 40, temperature = 0.7, top_k = 40, seed = 7, stream = true,
            stream_options = new { include_usage = true }, presence_penalty = 0.3, min_p = 0.05, logit_bias = new Dictionary<string, double> { ["13"] = -100 },
        });
        using var response = await _http.StartAsync("/v1/completions", body, DevClusterFixture.TesterKey);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var chunks = new List<JsonElement>();
        await foreach (var chunk in OpenAiHttp.EventsAsync(response)) chunks.Add(chunk);
        var text = string.Concat(chunks.SelectMany(c => c.GetProperty("choices").EnumerateArray()).Select(c => c.GetProperty("text").GetString()));

        var grpc = await GrpcAsync(new Protos.SamplingParams
        {
            Temperature = 0.7, TopK = 40, Seed = 7, MaxTokens = 40, PresencePenalty = 0.3, MinP = 0.05, LogitBias = { [13] = -100 },
        });
        Assert.Equal(grpc.Text, text);
        Assert.DoesNotContain(13, grpc.Tokens);
        Assert.All(chunks, c => Assert.Equal("text_completion", c.GetProperty("object").GetString()));
        var usage = chunks[^1].GetProperty("usage");
        Assert.Empty(chunks[^1].GetProperty("choices").EnumerateArray());
        Assert.Equal(grpc.Complete.Usage.PromptTokens, usage.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(grpc.Complete.Usage.CompletionTokens, usage.GetProperty("completion_tokens").GetInt32());
        Assert.Equal(grpc.Complete.Usage.TotalTokens, usage.GetProperty("total_tokens").GetInt32());
        Assert.All(chunks[..^1], c => Assert.Equal(JsonValueKind.Null, c.GetProperty("usage").ValueKind));
        Assert.Equal(grpc.Complete.FinishReason == FinishReason.Length ? "length" : "stop", chunks[^2].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task Completion_with_token_ids_logprobs_and_a_stop_string_equals_the_grpc_stream()
    {
        int[] prompt = [1, 450, 1002, 310, 278, 3303];
        var greedy = await StreamResult.ReadAsync(fixture.Cluster.Client().Generate(new GenerateRequest
        {
            Tokenized = new TokenIds { Ids = { prompt } }, SamplingParams = new Protos.SamplingParams { Temperature = 0, MaxTokens = 30, IgnoreEos = true },
        }, WithKey(DevClusterFixture.TesterKey)));
        var stop = greedy.Text.Trim()[^6..][..3]; // a stop string the greedy output is known to contain
        var grpc = await StreamResult.ReadAsync(fixture.Cluster.Client().Generate(new GenerateRequest
        {
            Tokenized = new TokenIds { Ids = { prompt } },
            SamplingParams = new Protos.SamplingParams { Temperature = 0, MaxTokens = 30, IgnoreEos = true, Stop = { stop }, Logprobs = true },
        }, WithKey(DevClusterFixture.TesterKey)));

        var (status, body, _) = await _http.SendAsync("/v1/completions", JsonSerializer.Serialize(new
        {
            prompt, max_tokens = 30, temperature = 0, ignore_eos = true, stop, logprobs = 0,
        }), DevClusterFixture.TesterKey);
        Assert.Equal(HttpStatusCode.OK, status);
        var choice = body.GetProperty("choices")[0];
        Assert.Equal(grpc.Text, choice.GetProperty("text").GetString());
        Assert.DoesNotContain(stop, choice.GetProperty("text").GetString());
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());
        var logprobs = choice.GetProperty("logprobs");
        Assert.Equal(grpc.Tokens.Select(t => $"token_id:{t}"), logprobs.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()));
        Assert.Equal(grpc.Logprobs, logprobs.GetProperty("token_logprobs").EnumerateArray().Select(l => l.GetSingle()));
        Assert.Equal(prompt.Length, body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(grpc.Tokens.Count, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task Top_logprobs_lead_with_the_greedy_token_in_completions_and_streamed_chat()
    {
        var (status, body, _) = await _http.SendAsync("/v1/completions", JsonSerializer.Serialize(new
        {
            prompt = Prompt, max_tokens = 8, temperature = 0, ignore_eos = true, logprobs = 3,
        }), DevClusterFixture.TesterKey);
        Assert.Equal(HttpStatusCode.OK, status);
        var logprobs = body.GetProperty("choices")[0].GetProperty("logprobs");
        var tokens = logprobs.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()).ToList();
        var chosen = logprobs.GetProperty("token_logprobs").EnumerateArray().Select(l => l.GetSingle()).ToList();
        var top = logprobs.GetProperty("top_logprobs").EnumerateArray().Select(t => t.EnumerateObject().ToList()).ToList();
        Assert.Equal(8, top.Count);
        for (int i = 0; i < top.Count; i++)
        {
            Assert.Equal(3, top[i].Count);
            Assert.Equal(tokens[i], top[i][0].Name);
            Assert.Equal(chosen[i], top[i][0].Value.GetSingle());
            var values = top[i].Select(p => p.Value.GetSingle()).ToList();
            Assert.Equal(values.OrderDescending(), values);
        }

        using var response = await _http.StartAsync("/v1/chat/completions", JsonSerializer.Serialize(new
        {
            messages = new[] { new { role = "user", content = "hi" } }, max_tokens = 8, temperature = 0, ignore_eos = true,
            logprobs = true, top_logprobs = 2, stream = true,
        }), DevClusterFixture.TesterKey);
        var content = new List<JsonElement>();
        await foreach (var chunk in OpenAiHttp.EventsAsync(response))
        {
            if (chunk.GetProperty("choices")[0].GetProperty("logprobs") is { ValueKind: JsonValueKind.Object } l)
                content.AddRange(l.GetProperty("content").EnumerateArray());
        }
        Assert.Equal(8, content.Count);
        Assert.All(content, c =>
        {
            var alternatives = c.GetProperty("top_logprobs").EnumerateArray().ToList();
            Assert.Equal(2, alternatives.Count);
            Assert.Equal(c.GetProperty("token").GetString(), alternatives[0].GetProperty("token").GetString());
            Assert.Equal(c.GetProperty("logprob").GetSingle(), alternatives[0].GetProperty("logprob").GetSingle());
        });
    }

    [Fact]
    public async Task Client_that_disconnects_mid_stream_frees_the_sequences_kv_and_the_session_is_aborted()
    {
        var body = JsonSerializer.Serialize(new { prompt = "In the beginning", max_tokens = 1500, temperature = 0, ignore_eos = true, stream = true });
        using var cancel = new CancellationTokenSource();
        var response = await _http.StartAsync("/v1/completions", body, DevClusterFixture.TesterKey, cancel.Token);
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancel.Token));
        string? id = null;
        for (int events = 0; events < 5;)
        {
            var line = await reader.ReadLineAsync(cancel.Token);
            if (line is not { Length: > 0 }) continue;
            id ??= JsonDocument.Parse(line[6..]).RootElement.GetProperty("id").GetString();
            events++;
        }
        var engines = fixture.Cluster.Engines;
        Assert.True(engines.Engines.Sum(e => e.Stats.KvBlocksUsed) > 0);

        cancel.Cancel();
        reader.Dispose();
        response.Dispose();

        var session = await fixture.KvReleasedAndAborted(id!);
        Assert.Equal(SessionStates.Aborted, session?.State);
    }

    [Theory]
    [InlineData("/v1/completions", """{"prompt": "hi", "temperature": -1}""", "temperature", "must be 0 (greedy) or in")]
    [InlineData("/v1/completions", """{"prompt": "hi", "top_p": 0}""", "top_p", "must be in (0, 1]")]
    [InlineData("/v1/completions", """{"prompt": "hi", "max_tokens": "ten"}""", "max_tokens", "must be an integer")]
    [InlineData("/v1/completions", """{"prompt": "hi", "max_tokens": 0}""", "max_tokens", "must be > 0")]
    [InlineData("/v1/completions", """{"prompt": "hi", "max_tokens": 100000000}""", "max_tokens", "exceeds the model's context")]
    [InlineData("/v1/completions", """{"prompt": "hi", "n": 0}""", "n", "must be in [1, 16]")]
    [InlineData("/v1/chat/completions", """{"messages": [{"role": "user", "content": "hi"}], "n": 17}""", "n", "must be in [1, 16]")]
    [InlineData("/v1/completions", """{"prompt": "hi", "logprobs": 21}""", "logprobs", "must be in [0, 20]")]
    [InlineData("/v1/completions", """{"prompt": "hi", "presence_penalty": 3}""", "presence_penalty", "must be in [-2, 2]")]
    [InlineData("/v1/completions", """{"prompt": "hi", "logit_bias": {"x": 1}}""", "logit_bias", "key 'x' is not a token id")]
    [InlineData("/v1/completions", """{"prompt": "hi", "logit_bias": {"99999999": 1}}""", "logit_bias", "outside the vocabulary")]
    [InlineData("/v1/completions", """{"prompt": "hi", "stop": [1]}""", "stop", "a string or a list of strings")]
    [InlineData("/v1/completions", """{"prompt": "hi", "kv_policy": "swa"}""", "kv_sparsity", "needs a KV sparsity")]
    [InlineData("/v1/completions", """{"prompt": "hi", "stream_options": {"include_usage": true}}""", "stream_options", "only allowed with")]
    [InlineData("/v1/completions", """{"prompt": ["a", "b"]}""", "prompt", "batched prompts are not supported")]
    [InlineData("/v1/completions", """{"prompt": [1, 99999999]}""", "prompt", "outside the vocabulary")]
    [InlineData("/v1/completions", """{"max_tokens": 5}""", "prompt", "is required")]
    [InlineData("/v1/chat/completions", """{"messages": []}""", "messages", "non-empty list")]
    [InlineData("/v1/chat/completions", """{"messages": [{"role": "tool", "content": "x"}]}""", "messages[0].role", "'tool' is not supported")]
    [InlineData("/v1/chat/completions", """{"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}""", "messages[0].content[0].type", "only 'text'")]
    [InlineData("/v1/chat/completions", """{"messages": [{"role": "user", "content": "hi"}], "top_logprobs": 2}""", "top_logprobs", "needs \"logprobs\": true")]
    [InlineData("/v1/chat/completions", """{"messages": [{"role": "user", "content": "hi"}], "logprobs": true, "top_logprobs": -1}""", "top_logprobs", "must be in [0, 20]")]
    [InlineData("/v1/chat/completions", """{"messages": [{"role": "user", "content": "hi"}], "tools": []}""", "tools", "not supported")]
    [InlineData("/v1/chat/completions", """{"messages": [{"role": "user", "content": "hi"}], "chat_template": "{% macro x() %}{% endmacro %}"}""", "chat_template", "'{% macro %}' statement is not supported")]
    [InlineData("/v1/chat/completions", """{"messages": [{"role": "user", "content": "hi"}], "chat_template": "{{ raise_exception('no system prompt') }}"}""", "messages", "no system prompt")]
    public async Task Bad_input_is_400_naming_the_field(string path, string json, string param, string message)
    {
        var (status, body, _) = await _http.SendAsync(path, json, DevClusterFixture.TesterKey);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        var error = body.GetProperty("error");
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.StartsWith(param + ": ", error.GetProperty("message").GetString());
        Assert.Contains(message, error.GetProperty("message").GetString());
    }

    [Fact]
    public async Task Body_that_is_not_json_is_400()
    {
        var (status, body, _) = await _http.SendAsync("/v1/completions", "{not json", DevClusterFixture.TesterKey);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("not valid JSON", body.GetProperty("error").GetProperty("message").GetString());
    }

    [Theory]
    [InlineData(null, "missing header")]
    [InlineData("wrong-key", "unknown API key")]
    public async Task Missing_or_unknown_key_is_401(string? key, string message)
    {
        foreach (var (path, json) in new[] { ("/v1/completions", """{"prompt": "hi"}"""), ("/v1/models", null) })
        {
            var (status, body, _) = await _http.SendAsync(path, json, key);
            Assert.Equal(HttpStatusCode.Unauthorized, status);
            Assert.Equal("authentication_error", body.GetProperty("error").GetProperty("type").GetString());
            Assert.Contains(message, body.GetProperty("error").GetProperty("message").GetString());
        }
    }

    [Fact]
    public async Task Unknown_model_and_unknown_path_are_404()
    {
        var (status, body, _) = await _http.SendAsync("/v1/completions", """{"model": "gpt-4o", "prompt": "hi"}""", DevClusterFixture.TesterKey);
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal("model_not_found", body.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal("model", body.GetProperty("error").GetProperty("param").GetString());
        (status, body, _) = await _http.SendAsync("/v1/models/gpt-4o", null, DevClusterFixture.TesterKey);
        Assert.Equal(HttpStatusCode.NotFound, status);
        (status, body, _) = await _http.SendAsync("/v1/embeddings", """{"input": "x"}""", DevClusterFixture.TesterKey);
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Contains("no such endpoint", body.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task Over_the_keys_quota_is_429_with_retry_after()
    {
        var body = JsonSerializer.Serialize(new { prompt = "In the beginning", max_tokens = 1500, temperature = 0, ignore_eos = true, stream = true });
        using var cancel = new CancellationTokenSource();
        using var first = await _http.StartAsync("/v1/completions", body, DevClusterFixture.SoloKey, cancel.Token);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var (status, error, headers) = await _http.SendAsync("/v1/completions", body, DevClusterFixture.SoloKey);
        Assert.Equal(HttpStatusCode.TooManyRequests, status);
        Assert.Equal("rate_limit_error", error.GetProperty("error").GetProperty("type").GetString());
        Assert.Contains("API key 'solo'", error.GetProperty("error").GetProperty("message").GetString());
        Assert.Equal(TimeSpan.FromSeconds(1), headers.RetryAfter?.Delta);
        cancel.Cancel();
    }
}
