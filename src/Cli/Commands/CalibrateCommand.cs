using System.Globalization;
using System.Text;
using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Evaluation;

namespace AlisaCluster.Cli.Commands;

/// <summary>alisa calibrate: learns a checkpoint's SWA local/global split per layer and KV head from sequences the model
/// samples itself (seeded, dense attention) and writes it next to the checkpoint (models/X/alisa-split.json), where the
/// "learned" policy option (swa:0.8:per-head:learned) finds it.</summary>
public static class CalibrateCommand
{
    public static Task<int> RunAsync(CommandLine args)
    {
        var folder = args.String("model") ?? ModelOptions.DefaultModelFolder;
        int count = args.Int("sequences", 4), length = args.Int("length", 1024), seed = args.Int("seed", 0);
        var sparsities = args.String("sparsity", "0.5,0.7,0.8,0.9").Split(',').Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToList();
        var output = args.String("out", Path.Combine(folder, LearnedSplit.FileName));
        using var model = ModelOptions.Load(args);
        args.RejectUnknown();
        if (count < 1 || length < 2) throw new ArgumentException("--sequences must be >= 1 and --length >= 2");

        var started = DateTime.UtcNow;
        var sequences = SplitCalibration.Sample(model.Model, count, length, seed);
        Console.WriteLine($"sampled {count} x {length} tokens in {(DateTime.UtcNow - started).TotalSeconds:F0} s");
        var source = $"alisa calibrate: {count} sequences of {length} tokens sampled from {model.Name} (seed {seed}, temperature 1), " +
            $"per-KV-head SWA output error, shares {string.Join("/", SplitCalibration.Candidates)}";
        var outcome = SplitCalibration.Calibrate(model.Model, sequences, sparsities, source);
        outcome.Split.Save(output);
        Console.Write(Table(outcome));
        Console.WriteLine($"wrote {output} in {(DateTime.UtcNow - started).TotalSeconds:F0} s");
        return Task.FromResult(0);
    }

    /// <summary>Per sparsity and layer: each KV head's chosen recent share, with its error beside the paper's 0.5 and local's 1.</summary>
    private static string Table(SplitCalibration.Outcome outcome)
    {
        var text = new StringBuilder("sparsity layer  per KV head: share (error at share | 0.5 | 1.0)\n");
        int last = SplitCalibration.Candidates.Length - 1;
        for (int s = 0; s < outcome.Split.Levels.Count; s++)
        {
            var level = outcome.Split.Levels[s];
            for (int l = 0; l < level.Recent.Length; l++)
            {
                var heads = level.Recent[l].Select((share, h) =>
                {
                    int f = Array.IndexOf(SplitCalibration.Candidates, share);
                    return $"{share,5:0.###} ({outcome.Error[s, l, h, f]:0.0000} | {outcome.Error[s, l, h, 0]:0.0000} | {outcome.Error[s, l, h, last]:0.0000})";
                });
                text.AppendLine(CultureInfo.InvariantCulture, $"{level.Sparsity,8} {l,5}  {string.Join("  ", heads)}");
            }
        }
        return text.ToString();
    }
}
