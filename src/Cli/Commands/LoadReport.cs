namespace AlisaCluster.Cli.Commands;

public sealed record Percentiles(double P50, double P90, double P99, double Mean)
{
    public static Percentiles Of(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return new Percentiles(0, 0, 0, 0);
        var sorted = values.Order().ToArray();
        double At(double q) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];
        return new Percentiles(At(0.5), At(0.9), At(0.99), sorted.Average());
    }
}

/// <summary>The result of a load run, as printed (table) and saved (JSON). Latencies in milliseconds.</summary>
public sealed record LoadReport(
    string Target, string Mode, double DurationSeconds, int Requests, int Completed, int Corrupted, IReadOnlyDictionary<string, int> ErrorsByStatus,
    double RequestsPerSecond, double OutputTokensPerSecond, long PromptTokens, long OutputTokens,
    Percentiles TtftMs, Percentiles InterTokenMs, Percentiles E2eMs)
{
    public static LoadReport From(string target, string mode, TimeSpan elapsed, IReadOnlyList<StreamSample> samples)
    {
        var ok = samples.Where(s => s.Status == "OK").ToList();
        double seconds = elapsed.TotalSeconds;
        return new LoadReport(target, mode, Math.Round(seconds, 2), samples.Count, ok.Count(s => !s.Corrupted), ok.Count(s => s.Corrupted),
            samples.Where(s => s.Status != "OK").GroupBy(s => s.Status).ToDictionary(g => g.Key, g => g.Count()),
            ok.Count / seconds, ok.Sum(s => s.OutputTokens) / seconds, ok.Sum(s => (long)s.PromptTokens), ok.Sum(s => (long)s.OutputTokens),
            Percentiles.Of(ok.Where(s => s.TtftSeconds is not null).Select(s => s.TtftSeconds!.Value * 1000).ToList()),
            Percentiles.Of(ok.SelectMany(s => s.InterTokenSeconds).Select(s => s * 1000).ToList()),
            Percentiles.Of(ok.Select(s => s.E2eSeconds * 1000).ToList()));
    }
}
