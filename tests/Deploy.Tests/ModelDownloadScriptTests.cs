using System.Net;
using System.Net.Sockets;

namespace AlisaCluster.Deploy.Tests;

/// <summary>The chart's model-download init container script, run as the chart renders it, against a real HTTP server
/// laid out like a Hugging Face repository (&lt;repo&gt;/resolve/&lt;revision&gt;/&lt;file&gt;).</summary>
public sealed class ModelDownloadScriptTests : IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("alisa-download-").FullName;

    public void Dispose() => Directory.Delete(_work, recursive: true);

    private static string Script() => (string)Yaml.At(Helm.Template("--set", "model.source=download", "--set", "model.download.url=http://x")
        .Get("ConfigMap", "test-alisa-model-download"), "data", "download-model.sh")!;

    /// <summary>Serves <paramref name="files"/> under /org/model/resolve/main/ and records each request's path and auth.</summary>
    private static (HttpListener Listener, string Url, List<(string Path, string? Auth)> Requests) Serve(string files)
    {
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0)) { probe.Start(); port = ((IPEndPoint)probe.LocalEndpoint).Port; }
        var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        var requests = new List<(string, string?)>();
        _ = Task.Run(async () =>
        {
            while (listener.IsListening)
            {
                HttpListenerContext context;
                try { context = await listener.GetContextAsync(); } catch (Exception) { return; }
                var path = context.Request.Url!.AbsolutePath;
                lock (requests) requests.Add((path, context.Request.Headers["Authorization"]));
                var file = Path.Combine(files, path.Replace("/org/model/resolve/main/", "", StringComparison.Ordinal));
                if (path.StartsWith("/org/model/resolve/main/", StringComparison.Ordinal) && File.Exists(file))
                    await context.Response.OutputStream.WriteAsync(await File.ReadAllBytesAsync(file));
                else context.Response.StatusCode = 404;
                context.Response.Close();
            }
        });
        return (listener, $"http://127.0.0.1:{port}/org/model", requests);
    }

    private Tool.Result RunScript(string url, string? token = null)
    {
        var script = Path.Combine(_work, "download-model.sh");
        File.WriteAllText(script, Script());
        var env = new Dictionary<string, string> { ["MODEL_URL"] = url, ["MODEL_REVISION"] = "main", ["MODEL_DIR"] = Path.Combine(_work, "models", "model") };
        if (token is not null) env["MODEL_TOKEN"] = token;
        return Tool.Run("sh", [script], _work, env);
    }

    [Fact]
    public void A_single_file_checkpoint_arrives_byte_for_byte_with_the_token_sent()
    {
        var source = Path.Combine(RepoPaths.Root, "models", "tiny-llama");
        var (listener, url, requests) = Serve(source);
        using var _ = listener;
        var run = RunScript(url, token: "hub-token");
        Assert.True(run.ExitCode == 0, run.Output + run.Error);
        var target = Path.Combine(_work, "models", "model");
        foreach (var file in new[] { "config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json", "model.safetensors" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(source, file)), File.ReadAllBytes(Path.Combine(target, file)));
        Assert.True(File.Exists(Path.Combine(target, ".complete")));
        Assert.All(requests, r => Assert.Equal("Bearer hub-token", r.Auth));

        // a complete download is kept: a restarted pod fetches nothing
        int before = requests.Count;
        Assert.Equal(0, RunScript(url).ExitCode);
        Assert.Equal(before, requests.Count);
    }

    [Fact]
    public void A_sharded_checkpoint_fetches_every_shard_its_index_names()
    {
        var source = Directory.CreateDirectory(Path.Combine(_work, "source")).FullName;
        File.WriteAllText(Path.Combine(source, "config.json"), "{}");
        File.WriteAllText(Path.Combine(source, "tokenizer.json"), "{}");
        File.WriteAllText(Path.Combine(source, "model.safetensors.index.json"),
            """{"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors", "c": "model-00001-of-00002.safetensors"}}""");
        File.WriteAllBytes(Path.Combine(source, "model-00001-of-00002.safetensors"), [1, 2, 3]);
        File.WriteAllBytes(Path.Combine(source, "model-00002-of-00002.safetensors"), [4, 5]);
        var (listener, url, requests) = Serve(source);
        using var _ = listener;
        var run = RunScript(url);
        Assert.True(run.ExitCode == 0, run.Output + run.Error);
        var target = Path.Combine(_work, "models", "model");
        Assert.Equal([1, 2, 3], File.ReadAllBytes(Path.Combine(target, "model-00001-of-00002.safetensors")));
        Assert.Equal([4, 5], File.ReadAllBytes(Path.Combine(target, "model-00002-of-00002.safetensors")));
        Assert.DoesNotContain(requests, r => r.Path.EndsWith("/model.safetensors", StringComparison.Ordinal));
        Assert.Single(requests, r => r.Path.EndsWith("model-00001-of-00002.safetensors", StringComparison.Ordinal));
    }

    [Fact]
    public void A_missing_required_file_fails_the_init_container_with_its_URL()
    {
        var source = Directory.CreateDirectory(Path.Combine(_work, "empty")).FullName;
        var (listener, url, _) = Serve(source);
        using var __ = listener;
        var run = RunScript(url);
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains($"could not fetch {url}/resolve/main/config.json", run.Error);
        Assert.False(File.Exists(Path.Combine(_work, "models", "model", ".complete")));
    }
}
