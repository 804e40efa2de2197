using System.Globalization;
using System.Text.Json;
using AlisaCluster.Cli.Reports;
using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Evaluation;
using AlisaCluster.GpuWorker.Kv;
using AlisaCluster.GpuWorker.Model;
using Spectre.Console;

namespace AlisaCluster.Cli.Commands;

/// <summary>alisa eval: the accuracy study. Perplexity of a checkpoint on text files through the real decode path
/// (DESIGN.md section 3 protocol) for each KV policy x sparsity (x INT8), greedy agreement with dense, and the
/// independent reference's perplexity beside ours. Writes results.jsonl, a Markdown table and an SVG plot per text.</summary>
public static class EvalCommand
{
    public sealed record Row(string Model, string Text, int Windows, int Window, string Policy, double Sparsity, bool Int8,
        double Ppl, double PplIncreasePercent, double? ReferencePpl, double? ReferenceDeltaPercent, double? GreedyAgreement, long KvPoolBytes);

    /// <summary>Before loading the model: a zero or negative count would otherwise surface as an index error mid-run.</summary>
    private static void CheckOptions(int window, int batch, int maxWindows, int agreementPrompts, int agreementTokens, int promptTokens)
    {
        foreach (var (name, value) in new[] { ("window", window), ("batch", batch), ("max-windows", maxWindows),
            ("agreement-prompts", agreementPrompts), ("agreement-tokens", agreementTokens), ("agreement-prompt-len", promptTokens) })
            if (value <= 0) throw new ArgumentException($"--{name} must be > 0, got {value}");
        // each agreement prompt and its continuation are cut from one window
        if (agreementTokens >= window) throw new ArgumentException($"--agreement-tokens ({agreementTokens}) must be below --window ({window})");
    }

    public static async Task<int> RunAsync(CommandLine args)
    {
        var texts = args.Strings("text", "");
        if (texts.Count == 0) throw new ArgumentException("--text FILE[,FILE...] is required");
        var policies = args.Strings("policies", "local,streaming,h2o,swa");
        var sparsities = args.String("sparsity", "0.5,0.7,0.8,0.9").Split(',').Select(s =>
            double.TryParse(s, CultureInfo.InvariantCulture, out var v) && v >= 0 && v <= KvPolicy.MaxSparsity ? v
                : throw new ArgumentException($"--sparsity: '{s}' is not a number in [0, {KvPolicy.MaxSparsity}]")).ToList();
        var int8Modes = args.String("int8", "off") switch
        {
            "off" => new[] { false }, "on" => [true], "both" => [false, true],
            var other => throw new ArgumentException($"--int8 must be off, on or both, got '{other}'"),
        };
        int window = args.Int("window", 1024), batch = args.Int("batch", 32), maxWindows = args.Int("max-windows", int.MaxValue);
        int agreementPrompts = args.Int("agreement-prompts", 8), agreementTokens = args.Int("agreement-tokens", 64);
        int promptTokens = args.Int("agreement-prompt-len", 64);
        CheckOptions(window, batch, maxWindows, agreementPrompts, agreementTokens, promptTokens);
        var referencePath = args.String("reference");
        var outDir = args.String("out", "eval-out");
        // "--text self": windows the model samples itself, for choosing between variants without the held-out texts
        int selfWindows = args.Int("self-windows", 4), selfSeed = args.Int("self-seed", 1);
        // the split that "learned" policies take (alisa calibrate writes it next to the checkpoint)
        var splitPath = args.String("split", Path.Combine(args.String("model") ?? ModelOptions.DefaultModelFolder, LearnedSplit.FileName));
        var learned = File.Exists(splitPath) ? LearnedSplit.Load(splitPath) : null;
        using var model = ModelOptions.Load(args);
        args.RejectUnknown();
        var references = referencePath is null ? [] : ReferenceTable.Load(referencePath);
        Directory.CreateDirectory(outDir);

        foreach (var text in texts)
        {
            var windows = (text == SelfText ? (IEnumerable<int[]>)SplitCalibration.Sample(model.Model, selfWindows, window, selfSeed)
                : HeldoutText.Windows(text, model.Tokenizer, model.Config.EosTokenId, window)).Take(maxWindows).ToList();
            var configs = new List<(KvPolicy Policy, bool Int8)>();
            foreach (var int8 in int8Modes)
            {
                configs.Add((KvPolicy.Dense, int8));
                foreach (var template in policies)
                foreach (var sparsity in sparsities)
                    configs.Add((WithSparsity(template, sparsity, learned), int8));
            }
            var prompts = windows.Take(agreementPrompts).Select(w => w[..Math.Min(w.Length - agreementTokens, promptTokens)]).ToList();
            var stem = Path.Combine(outDir, $"{model.Name}-{Path.GetFileNameWithoutExtension(text)}");
            var rows = await RunConfigs(model, text, windows, configs, prompts, agreementTokens, batch, references, stem);
            AnsiConsole.Write(new Markup(Markup.Escape(EvalReport.Table(rows))));
        }
        return 0;
    }

    /// <summary>The --text value that evaluates on self-sampled windows (seed --self-seed, apart from calibration's 0).</summary>
    public const string SelfText = "self";

    private static KvPolicy WithSparsity(string template, double sparsity, LearnedSplit? learned)
    {
        var parts = template.Split(':', 2);
        var options = parts.Length > 1 ? ":" + parts[1] : "";
        return KvPolicy.Parse($"{parts[0]}:{sparsity.ToString(CultureInfo.InvariantCulture)}{options}", learned);
    }

    private static async Task<List<Row>> RunConfigs(LoadedModel model, string text, List<int[]> windows, List<(KvPolicy Policy, bool Int8)> configs,
        List<int[]> prompts, int agreementTokens, int batch, IReadOnlyList<ReferenceTable.Entry> references, string stem)
    {
        var rows = new List<Row>();
        var textName = Path.GetFileName(text);
        int[][]? continuations = null;
        await AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .StartAsync(async progress =>
            {
                continuations = AccuracyMetrics.GreedyContinuations(model.Model, prompts, agreementTokens);
                double densePpl = 0;
                foreach (var (policy, int8) in configs)
                {
                    var label = $"{textName} {policy}{(int8 ? " int8" : "")}";
                    var task = progress.AddTask(Markup.Escape(label), maxValue: windows.Count * (windows[0].Length - 1));
                    var format = int8 ? KvStorageFormat.Int8 : KvStorageFormat.Native;
                    var (ppl, poolBytes) = await Task.Run(() => AccuracyMetrics.Perplexity(model.Model, windows, policy, format, batch, n => task.Increment(n)));
                    double? agreement = policy.IsDense && !int8 ? 1.0 : AccuracyMetrics.GreedyAgreement(model.Model, prompts, continuations, policy, format);
                    if (policy.IsDense && (densePpl == 0 || !int8)) densePpl = ppl; // int8-only runs compare with int8 dense
                    var reference = int8 ? null : references.FirstOrDefault(r => r.Model == model.Name && r.Text == textName
                        && r.Policy == policy.Kind.ToString().ToLowerInvariant() && Math.Abs(r.Sparsity - policy.Sparsity) < 1e-9 && policy.ToString().Count(c => c == ':') <= 1);
                    rows.Add(new Row(model.Name, textName, windows.Count, windows[0].Length, policy.ToString(), policy.Sparsity, int8, ppl,
                        densePpl > 0 ? (ppl / densePpl - 1) * 100 : 0, reference?.Ppl, reference is null ? null : (ppl / reference.Ppl - 1) * 100,
                        agreement, poolBytes));
                    // written after every configuration, so a run cut short keeps what it measured
                    await File.AppendAllTextAsync(stem + ".jsonl", JsonSerializer.Serialize(rows[^1]) + "\n");
                    await File.WriteAllTextAsync(stem + ".md", EvalReport.Table(rows));
                    if (rows.Any(r => r.Sparsity > 0)) await File.WriteAllTextAsync(stem + ".svg", EvalReport.Plot(rows, $"{model.Name} on {textName}"));
                    task.StopTask();
                }
            });
        return rows;
    }
}
