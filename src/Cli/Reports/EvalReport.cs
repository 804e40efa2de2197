using System.Globalization;
using AlisaCluster.Cli.Commands;

namespace AlisaCluster.Cli.Reports;

/// <summary>The accuracy study's table (one row per configuration) and plot (perplexity vs sparsity, a line per policy).</summary>
public static class EvalReport
{
    private static string F(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);

    public static string Table(IReadOnlyList<EvalCommand.Row> rows)
    {
        var table = new MarkdownTable("policy", "sparsity", "INT8", "ppl", "vs dense", "reference ppl", "vs reference", "greedy agreement", "KV pool MiB");
        foreach (var r in rows)
            table.Add(r.Policy, F(r.Sparsity, "0.0#"), r.Int8 ? "yes" : "no", F(r.Ppl, "0.000"), F(r.PplIncreasePercent, "+0.00;-0.00;+0.00") + "%",
                r.ReferencePpl is { } p ? F(p, "0.0000") : "", r.ReferenceDeltaPercent is { } d ? F(d, "+0.000;-0.000;+0.000") + "%" : "",
                r.GreedyAgreement is { } a ? F(a * 100, "0.0") + "%" : "", F(r.KvPoolBytes / 1048576.0, "0.0"));
        return table.ToString();
    }

    public static string Plot(IReadOnlyList<EvalCommand.Row> rows, string title)
    {
        var chart = new SvgLineChart(title, "KV sparsity", "perplexity");
        var dense = rows.Where(r => r.Sparsity == 0 && !r.Int8).Select(r => r.Ppl).FirstOrDefault();
        foreach (var group in rows.Where(r => r.Sparsity > 0).GroupBy(r => PolicyFamily(r.Policy) + (r.Int8 ? " +int8" : "")))
        {
            var points = group.Select(r => (r.Sparsity, r.Ppl)).ToList();
            if (dense > 0) points.Insert(0, (0.0, dense));
            chart.Add(group.Key, points);
        }
        return chart.Render();
    }

    /// <summary>"swa:0.8:sinks=4" -> "swa:sinks=4": the policy without its sparsity.</summary>
    private static string PolicyFamily(string policy)
    {
        var parts = policy.Split(':');
        return string.Join(":", parts.Where((_, i) => i != 1));
    }
}
