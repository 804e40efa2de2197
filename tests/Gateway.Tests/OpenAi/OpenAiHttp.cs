using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace AlisaCluster.Gateway.Tests.OpenAi;

/// <summary>Raw HTTP against the gateway's OpenAI API, for what an SDK hides: status codes, headers, the SSE lines.</summary>
public sealed class OpenAiHttp(int port) : IDisposable
{
    private readonly HttpClient _http = new() { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromMinutes(2) };

    public static string BaseUrl(int port) => $"http://127.0.0.1:{port}/v1";

    public HttpRequestMessage Request(string path, string? json, string? key)
    {
        var request = new HttpRequestMessage(json is null ? HttpMethod.Get : HttpMethod.Post, path);
        if (json is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        if (key is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return request;
    }

    public async Task<(HttpStatusCode Status, JsonElement Body, HttpResponseHeaders Headers)> SendAsync(string path, string? json, string? key)
    {
        using var response = await _http.SendAsync(Request(path, json, key));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(text.Length > 0, $"HTTP {(int)response.StatusCode} came with an empty body");
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone(), response.Headers);
    }

    /// <summary>A streamed response, headers read, body not yet.</summary>
    public async Task<HttpResponseMessage> StartAsync(string path, string json, string key, CancellationToken cancellationToken = default) =>
        await _http.SendAsync(Request(path, json, key), HttpCompletionOption.ResponseHeadersRead, cancellationToken);

    /// <summary>The "data:" payloads of a server-sent event stream through "[DONE]" (which is not returned).</summary>
    public static async IAsyncEnumerable<JsonElement> EventsAsync(HttpResponseMessage response)
    {
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        bool done = false;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.Length == 0) continue;
            Assert.StartsWith("data: ", line);
            Assert.False(done, "an event arrived after [DONE]");
            if (line == "data: [DONE]") { done = true; continue; }
            yield return JsonDocument.Parse(line[6..]).RootElement.Clone();
        }
        Assert.True(done, "the stream did not end with data: [DONE]");
    }

    public void Dispose() => _http.Dispose();
}
