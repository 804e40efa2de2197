namespace AlisaCluster.GpuWorker.Planning;

/// <summary>ALISA's three-phase schedule of one sequence's KV, as a function of its length n:
/// n &lt;= P1 all on the GPU (phase I); past P1 the oldest Alpha share of the tokens older than the recent window
/// live on the CPU (phase II); past P2 the oldest Beta share of those is deleted and recomputed (phase III).</summary>
public sealed record KvTierPlan(int P1, int P2, double Alpha, double Beta, int RecentTokens)
{
    /// <summary>Never leaves the GPU (phase I only).</summary>
    public static KvTierPlan AllGpu { get; } = new(int.MaxValue, int.MaxValue, 0, 0, 0);

    /// <summary>Like HF Accelerate / FlexGen: every whole block lives on the CPU and is read from there each step.</summary>
    public static KvTierPlan FullOffload { get; } = new(0, int.MaxValue, 1, 0, 1);

    public bool IsAllGpu => P1 == int.MaxValue;

    /// <summary>Leading blocks off the GPU and, of those, deleted, for a sequence of <paramref name="length"/> positions.</summary>
    public (int Offloaded, int Dropped) BlocksAt(int length, int blockSize)
    {
        if (length <= P1) return (0, 0);
        int older = Math.Max(0, length - RecentTokens) / blockSize;
        int offloaded = (int)Math.Floor(Alpha * older + 1e-9);
        int dropped = length > P2 ? (int)Math.Floor(Beta * offloaded + 1e-9) : 0;
        return (offloaded, dropped);
    }

    /// <summary>"p1,p2,alpha,beta,recent" (p2 "never" or empty = no deletion).</summary>
    public static KvTierPlan Parse(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length != 5) throw new ArgumentException($"KV tier plan '{text}': expected p1,p2,alpha,beta,recent", nameof(text));
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        var plan = new KvTierPlan(int.Parse(parts[0], inv), parts[1] is "" or "never" ? int.MaxValue : int.Parse(parts[1], inv),
            double.Parse(parts[2], inv), double.Parse(parts[3], inv), int.Parse(parts[4], inv));
        if (plan.Alpha is < 0 or > 1 || plan.Beta is < 0 or > 1 || plan.RecentTokens < 1 || plan.P1 < 0 || plan.P2 < plan.P1)
            throw new ArgumentException($"KV tier plan '{text}': need 0 <= alpha, beta <= 1, recent >= 1, 0 <= p1 <= p2", nameof(text));
        return plan;
    }

    /// <summary>The form <see cref="Parse"/> reads (the silo's Worker:KvTierPlan setting).</summary>
    public string ToSetting() => string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"{P1},{(P2 == int.MaxValue ? "never" : P2.ToString(System.Globalization.CultureInfo.InvariantCulture))},{Alpha:0.00},{Beta:0.00},{RecentTokens}");

    public override string ToString() => IsAllGpu ? "phase I only (all KV on the GPU)"
        : $"p1={P1} alpha={Alpha:0.00} p2={(P2 == int.MaxValue ? "never" : P2.ToString())} beta={Beta:0.00} recent={RecentTokens}";
}
