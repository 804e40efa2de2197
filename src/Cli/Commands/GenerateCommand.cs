using AlisaCluster.GpuWorker.Engine;
using Spectre.Console;

namespace AlisaCluster.Cli.Commands;

/// <summary>alisa generate: stream a completion of a prompt from a local engine.</summary>
public static class GenerateCommand
{
    public static async Task<int> RunAsync(CommandLine args)
    {
        var prompt = args.String("prompt", "And it came to pass, when the king heard");
        var sampling = new SamplingParams
        {
            Temperature = args.Double("temperature", 0.8),
            TopP = args.Double("top-p", 0.95),
            TopK = args.Int("top-k", 0),
            RepetitionPenalty = args.Double("repetition-penalty", 1.0),
            MaxTokens = args.Int("max-tokens", 64),
            Seed = args.Long("seed"),
            Stop = args.Strings("stop", ""),
        };
        using var model = ModelOptions.Load(args);
        args.RejectUnknown();
        await using var engine = new InferenceEngine(model, new EngineOptions());
        var ids = engine.Tokenizer.Encode(prompt);
        AnsiConsole.MarkupLineInterpolated($"[grey]{model.Name} on {model.Model.Device.type} ({model.Model.DType}), prompt {ids.Count} tokens[/]");
        AnsiConsole.Markup($"[bold]{Markup.Escape(prompt)}[/]");
        var started = DateTime.UtcNow;
        GenerationEvent? last = null;
        await foreach (var item in engine.GenerateAsync(new GenerationRequest("cli", ids, sampling)))
        {
            Console.Write(item.Text);
            last = item;
        }
        var seconds = (DateTime.UtcNow - started).TotalSeconds;
        Console.WriteLine();
        AnsiConsole.MarkupLineInterpolated($"[grey]finish={last?.Finish}, {last?.GeneratedTokens} tokens in {seconds:F2} s ({last?.GeneratedTokens / seconds:F1} tok/s)[/]");
        return 0;
    }
}
