using System.Diagnostics;
using AlisaCluster.Protos;
using Grpc.Core;
using Grpc.Net.Client;
using Spectre.Console;

namespace AlisaCluster.Cli.Commands;

/// <summary>alisa demo: starts a single-node dev cluster (silo + gateway in this process, localhost clustering,
/// in-memory metadata, the bundled tiny model) and streams a completion through the gRPC gateway. With --serve it
/// keeps serving on the documented ports (gRPC 50051, HTTP 8080) until Ctrl+C.</summary>
public static class ClusterDemoCommand
{
    public static async Task<int> RunAsync(CommandLine args)
    {
        var prompt = args.String("prompt", "And it came to pass, when the king heard");
        var sampling = new SamplingParams
        {
            Temperature = args.Double("temperature", 0.8), TopP = args.Double("top-p", 0.95), MaxTokens = args.Int("max-tokens", 64),
        };
        if (args.Long("seed") is { } seed) sampling.Seed = seed;
        bool serve = args.Flag("serve");
        var model = args.String("model");
        args.RejectUnknown();

        var settings = new Dictionary<string, string?> { ["Worker:Model"] = model ?? "" };
        var started = Stopwatch.StartNew();
        await using var cluster = await DevCluster.StartAsync(serve, settings);
        AnsiConsole.MarkupLineInterpolated($"[grey]dev cluster up in {started.Elapsed.TotalSeconds:F1} s: gRPC {cluster.GrpcAddress}, OpenAI API http://127.0.0.1:{cluster.HttpPort}/v1 (key {DevCluster.DemoApiKey}), health/metrics http://127.0.0.1:{cluster.HttpPort}[/]");

        using var channel = GrpcChannel.ForAddress(cluster.GrpcAddress);
        var client = new Generation.GenerationClient(channel);
        var info = await client.GetModelInfoAsync(new GetModelInfoRequest());
        AnsiConsole.MarkupLineInterpolated($"[grey]model {info.ModelName}: vocab {info.VocabSize}, context {info.MaxContextLength}, {info.WorkerSilos} worker silo(s)[/]");
        AnsiConsole.Markup($"[bold]{Markup.Escape(prompt)}[/]");

        var request = new GenerateRequest { Text = prompt, SamplingParams = sampling };
        var clock = Stopwatch.StartNew();
        double? firstToken = null;
        using var call = client.Generate(request);
        await foreach (var response in call.ResponseStream.ReadAllAsync())
        {
            if (response.Chunk is { } chunk)
            {
                firstToken ??= clock.Elapsed.TotalSeconds;
                Console.Write(chunk.Text);
            }
            else if (response.Complete is { } done)
            {
                Console.WriteLine();
                AnsiConsole.MarkupLineInterpolated($"[grey]finish={done.FinishReason}, prompt {done.Usage.PromptTokens} + completion {done.Usage.CompletionTokens} tokens, TTFT {firstToken * 1000:F0} ms, {done.Usage.CompletionTokens / clock.Elapsed.TotalSeconds:F1} tok/s through the gateway[/]");
            }
        }
        if (!serve) return 0;
        AnsiConsole.MarkupLine("[grey]serving until Ctrl+C[/]");
        await cluster.WaitForShutdownAsync();
        return 0;
    }
}
