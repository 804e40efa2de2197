using System.Text.Json;
using AlisaCluster.Cli.Reports;

namespace AlisaCluster.Cli.Commands;

/// <summary>alisa eval-report: merges the JSON lines of several eval runs (e.g. baselines on the GPU, variants on the
/// CPU) into one Markdown table and one SVG plot per model and text. Later files win for a repeated configuration.</summary>
public static class EvalReportCommand
{
    public static async Task<int> RunAsync(CommandLine args)
    {
        var inputs = args.Strings("in", "");
        var outDir = args.String("out", "eval-report");
        args.RejectUnknown();
        var rows = new Dictionary<(string, string, string, bool), EvalCommand.Row>();
        foreach (var (input, line) in JsonLines.Read(inputs).ToList())
        {
            var row = JsonSerializer.Deserialize<EvalCommand.Row>(line) ?? throw new InvalidDataException($"{input}: empty row");
            rows[(row.Model, row.Text, row.Policy, row.Int8)] = row;
        }
        Directory.CreateDirectory(outDir);
        foreach (var group in rows.Values.GroupBy(r => (r.Model, r.Text)))
        {
            var ordered = group.OrderBy(r => r.Int8).ThenBy(r => r.Sparsity > 0).ThenBy(r => Family(r.Policy)).ThenBy(r => r.Sparsity).ToList();
            var stem = Path.Combine(outDir, $"{group.Key.Model}-{Path.GetFileNameWithoutExtension(group.Key.Text)}");
            await File.WriteAllTextAsync(stem + ".md", EvalReport.Table(ordered));
            await File.WriteAllTextAsync(stem + ".svg", EvalReport.Plot(ordered, $"{group.Key.Model} on {group.Key.Text}"));
            Console.WriteLine($"{stem}.md, {stem}.svg: {ordered.Count} configurations");
        }
        return 0;
    }

    private static string Family(string policy) => policy.Split(':')[0] + string.Concat(policy.Split(':').Skip(2));
}
