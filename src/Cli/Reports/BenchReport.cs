using System.Globalization;

namespace AlisaCluster.Cli.Reports;

/// <summary>Throughput runs of one model shape as a Markdown table and a throughput-vs-batch plot.</summary>
public static class BenchReport
{
    public sealed record Run(string Model, string Series, int Batch, int GeneratedTokens, double TokensPerSecond, double? StepMs,
        double? PredictedStepMs, string Plan, long Preemptions, double StepVsFloor);

    public static string Table(IReadOnlyList<Run> runs)
    {
        static string F(double? v, string format) => v is { } x ? x.ToString(format, CultureInfo.InvariantCulture) : "";
        var table = new MarkdownTable("setting", "batch", "tok/s", "step ms", "predicted ms", "step / floor", "preemptions", "KV plan");
        foreach (var r in runs)
            table.Add(r.Series, r.Batch.ToString(CultureInfo.InvariantCulture), F(r.TokensPerSecond, "0.0"), F(r.StepMs, "0.0"), F(r.PredictedStepMs, "0.0"),
                r.StepVsFloor > 0 ? F(r.StepVsFloor, "0.0") + "x" : "", r.StepMs is null ? "" : r.Preemptions.ToString(CultureInfo.InvariantCulture), r.Plan);
        return table.ToString();
    }

    public static string Plot(IReadOnlyList<Run> runs, string title)
    {
        var chart = new SvgLineChart(title, "batch size", "generated tokens / s");
        foreach (var series in runs.GroupBy(r => r.Series)) chart.Add(series.Key, series.Select(r => ((double)r.Batch, r.TokensPerSecond)));
        return chart.Render();
    }
}
