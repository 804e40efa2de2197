using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using AlisaCluster.Protos;
using Grpc.Core;

namespace AlisaCluster.Cli.Commands;

/// <summary>The API a load run goes through: one stream of <paramref name="outputTokens"/> tokens (EOS ignored) for a
/// prompt of token ids, measured the same way whichever API carries it.</summary>
public interface ILoadTarget
{
    string Name { get; }

    Task<StreamSample> StreamAsync(int[] prompt, int outputTokens, CancellationToken cancellationToken);
}

/// <summary>gRPC Generate: one chunk per token.</summary>
public sealed class GrpcLoadTarget(Generation.GenerationClient client, string? apiKey) : ILoadTarget
{
    public string Name => "grpc";

    public async Task<StreamSample> StreamAsync(int[] prompt, int outputTokens, CancellationToken cancellationToken)
    {
        var request = new GenerateRequest
        {
            Tokenized = new TokenIds { Ids = { prompt } },
            SamplingParams = new SamplingParams { Temperature = 0.8, TopP = 0.95, MaxTokens = outputTokens, IgnoreEos = true },
        };
        var headers = apiKey is null ? null : new Metadata { { "authorization", $"Bearer {apiKey}" } };
        var timing = new StreamTiming();
        GenerateComplete? complete = null;
        try
        {
            using var call = client.Generate(request, headers, cancellationToken: cancellationToken);
            await foreach (var response in call.ResponseStream.ReadAllAsync(cancellationToken))
            {
                if (response.Chunk is { } chunk) timing.Tokens(chunk.TokenIds.Count);
                else complete = response.Complete;
            }
            bool corrupted = complete is null || timing.Received != outputTokens || complete.Usage.CompletionTokens != timing.Received;
            return timing.Sample("OK", corrupted, prompt.Length);
        }
        catch (RpcException e)
        {
            return timing.Sample(e.StatusCode.ToString(), false, prompt.Length);
        }
    }
}

/// <summary>POST /v1/completions with "stream": true: token-id prompt, "logprobs": 0 so that every token arrives in an
/// event of its own (an event per token, as gRPC, whatever text it completes), and the usage chunk to check the count.</summary>
public sealed class OpenAiLoadTarget(HttpClient http, string model, string? apiKey) : ILoadTarget
{
    public string Name => "openai";

    public async Task<StreamSample> StreamAsync(int[] prompt, int outputTokens, CancellationToken cancellationToken)
    {
        var body = JsonSerializer.Serialize(new
        {
            model, prompt, max_tokens = outputTokens, temperature = 0.8, top_p = 0.95, ignore_eos = true, logprobs = 0,
            stream = true, stream_options = new { include_usage = true },
        });
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (apiKey is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        var timing = new StreamTiming();
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            if (!response.IsSuccessStatusCode) return timing.Sample($"HTTP {(int)response.StatusCode}", false, prompt.Length);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken));
            int? usage = null;
            bool done = false;
            while (await reader.ReadLineAsync(cancellationToken) is { } line)
            {
                if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
                if (line == "data: [DONE]") { done = true; break; }
                using var chunk = JsonDocument.Parse(line.AsMemory(6));
                var root = chunk.RootElement;
                if (root.TryGetProperty("error", out _)) return timing.Sample("stream error", false, prompt.Length);
                if (root.TryGetProperty("usage", out var u) && u.ValueKind == JsonValueKind.Object) usage = u.GetProperty("completion_tokens").GetInt32();
                foreach (var choice in root.GetProperty("choices").EnumerateArray())
                    if (choice.GetProperty("logprobs") is { ValueKind: JsonValueKind.Object } logprobs) timing.Tokens(logprobs.GetProperty("tokens").GetArrayLength());
            }
            bool corrupted = !done || timing.Received != outputTokens || usage != timing.Received;
            return timing.Sample("OK", corrupted, prompt.Length);
        }
        catch (HttpRequestException e)
        {
            return timing.Sample(e.HttpRequestError.ToString(), false, prompt.Length);
        }
    }
}

/// <summary>A stream's clock: time to the first token, the gaps between tokens, the end.</summary>
internal sealed class StreamTiming
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<double> _gaps = [];
    private double? _first, _last;

    public int Received { get; private set; }

    public void Tokens(int count)
    {
        if (count == 0) return;
        var now = _clock.Elapsed.TotalSeconds;
        if (_last is { } previous) _gaps.Add(now - previous); else _first = now;
        _last = now;
        Received += count;
    }

    public StreamSample Sample(string status, bool corrupted, int promptTokens) =>
        new(status, corrupted, promptTokens, Received, _first, _gaps, _clock.Elapsed.TotalSeconds);
}
