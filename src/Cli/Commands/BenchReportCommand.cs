using System.Text.Json;
using AlisaCluster.Cli.Reports;

namespace AlisaCluster.Cli.Commands;

/// <summary>alisa bench-report: merges `alisa bench` JSON lines (and transformers' lines from bench/peer/hf_baseline.py)
/// into one Markdown table and one throughput-vs-batch SVG per model shape. Later lines win for a repeated run.
/// Series: "HF cache" for transformers, "mode policy" for ours, with the GPU budget ("24G") where one was set.</summary>
public static class BenchReportCommand
{
    public static async Task<int> RunAsync(CommandLine args)
    {
        var inputs = args.Strings("in", "");
        var outDir = args.String("out", "bench-report");
        int generated = args.Int("gen-len", 512);
        args.RejectUnknown();
        var runs = new Dictionary<(string Model, string Series, int Batch), BenchReport.Run>();
        foreach (var (input, line) in JsonLines.Read(inputs).ToList())
            if (Parse(line, input) is { } run && run.GeneratedTokens == generated) runs[(run.Model, run.Series, run.Batch)] = run;
        Directory.CreateDirectory(outDir);
        foreach (var model in runs.Values.GroupBy(r => r.Model))
        {
            var stem = Path.Combine(outDir, "throughput-" + model.Key);
            var ordered = model.OrderBy(r => r.Series).ThenBy(r => r.Batch).ToList();
            await File.WriteAllTextAsync(stem + ".md", BenchReport.Table(ordered));
            await File.WriteAllTextAsync(stem + ".svg", BenchReport.Plot(ordered, $"{model.Key}, fp16, 128 + {generated} tokens"));
            Console.WriteLine($"{stem}.md, {stem}.svg: {ordered.Count} runs");
        }
        return 0;
    }

    /// <summary>One line of either kind; the model is the shape's name (our "llama2-7b (random weights)" is "llama2-7b").</summary>
    private static BenchReport.Run? Parse(string line, string input)
    {
        using var json = JsonDocument.Parse(line);
        var root = json.RootElement;
        if (root.TryGetProperty("peer", out var peer))
        {
            if (root.TryGetProperty("error", out _)) return null; // e.g. out of GPU memory: no throughput to plot
            double budget = root.GetProperty("gpu_mem_gib") is { ValueKind: JsonValueKind.Number } cap ? cap.GetDouble() : 0; // null: whole card
            string series = $"{(peer.GetString() == "hf-transformers" ? "HF" : peer.GetString())} {root.GetProperty("cache").GetString()}{(budget > 0 ? $" {budget:0}G" : "")}";
            return new(root.GetProperty("preset").GetString()!, series, root.GetProperty("batch").GetInt32(), root.GetProperty("gen").GetInt32(),
                root.GetProperty("gen_tokens_per_s").GetDouble(), null, null, "", 0, 0);
        }
        var r = JsonSerializer.Deserialize<BenchCommand.Result>(line) ?? throw new InvalidDataException($"{input}: empty line");
        string budgetText = r.GpuMemGiB is { } gib ? $" {gib:0}G" : "";
        return new(r.Model.Split(' ')[0], $"{r.Mode} {r.Policy}{(r.Int8 ? "+int8" : "")}{budgetText}", r.Batch, r.GeneratedTokens,
            r.GeneratedTokensPerSecond, r.DecodeStepMs, r.PredictedStepMs, r.Plan, r.Preemptions, r.StepVsFloor);
    }
}
