using System.Globalization;

namespace AlisaCluster.GpuWorker.Attention;

public enum KvPolicyKind { Dense, Local, Streaming, H2O, Swa, Quest }

/// <summary>Which cached tokens a decode step attends to, and at what KV sparsity (1 - caching ratio).
/// Text form: "dense", "local:0.8", "streaming:0.8", "h2o:0.8", "swa:0.8", with SWA options appended as
/// "swa:0.8:sinks=4:local=0.75:mean:per-head"; "swa:0.8:per-head:learned" takes the model's calibrated split
/// (<see cref="LearnedSplit"/>) in place of one fixed local fraction. "quest:0.8" selects KV pages by the upper bound of
/// the current query's attention logits (<see cref="QuestPageSelector"/>); "quest:0.8:local=0.25:sinks=4:ada" adds a
/// recent window, sinks, and Ada-KV's allocation of the layer's pages across KV heads; "quest:0.8:tokens" ranks single
/// tokens by their true logit instead of pages by a bound (an exact top-k). Any sparse policy takes ":summaries": the
/// tokens it leaves out are attended a page at a time through their mean key and value (<see cref="Summaries"/>).
/// Local, StreamingLLM, H2O and SWA take ":pyramid" or ":pyramid=0.5": more of the budget in lower layers, less in higher
/// ones, the same in total (PyramidKV; <see cref="PyramidSlope"/>).</summary>
public sealed record KvPolicy(KvPolicyKind Kind, double Sparsity = 0)
{
    /// <summary>SWA: share of the budget given to the most recent tokens (the paper: 0.5). Quest: the least share
    /// its recent window takes (default 0: the current page and what whole pages leave over).</summary>
    public double LocalFraction { get; init; } = Kind == KvPolicyKind.Quest ? 0 : 0.5;
    /// <summary>Leading tokens always attended (StreamingLLM's attention sinks); SWA only, taken from the global share.</summary>
    public int Sinks { get; init; }
    /// <summary>SWA: select per KV head (scores summed over that head's query group) instead of once per layer.</summary>
    public bool PerKvHead { get; init; }
    /// <summary>SWA: rank tokens by their mean weight per step present in the score window rather than the sum, so
    /// tokens that just left the recent window compete fairly with old ones, and the recent/global split adapts.</summary>
    public bool MeanScores { get; init; }
    /// <summary>SWA learned split: [layer][KV head] share of the budget for the recent window (overrides
    /// <see cref="LocalFraction"/>); layers whose attention is recent give it all to the window, others keep globals.</summary>
    public double[][]? RecentFractions { get; init; }

    /// <summary>Quest: the layer's pages are shared out across KV heads by their estimated attention mass (Ada-KV)
    /// instead of the same count per head.</summary>
    public bool AdaptiveHeads { get; init; }

    /// <summary>Quest: pages of one token ranked by the current query's true logit (an exact top-k, which reads every
    /// key) instead of pool blocks ranked by their key bounds.</summary>
    public bool ExactTokens { get; init; }

    /// <summary>The tokens the selection leaves out are still attended, one entry per page: their mean key and value,
    /// weighted by their count (<see cref="Kv.PageSummaries"/>). The budget pays for those entries: tokens are selected
    /// from <see cref="TokenRatio"/>, one entry per <see cref="SummaryPageTokens"/> tokens less than the caching ratio.</summary>
    public bool Summaries { get; init; }

    /// <summary>PyramidKV's layer allocation: layer l of L attends a share r_l = r * (1 + slope * (1 - 2l / (L - 1))) of the
    /// cache (r the policy's token ratio; at most 1), so the lowest layer reads (1 + slope) r, the highest (1 - slope) r
    /// and the layers together what a flat r reads. 0: every layer r; a negative slope inverts the pyramid (more in
    /// higher layers). SWA's score window stays that of r.</summary>
    public double PyramidSlope { get; init; }

    /// <summary>The token ratio of one layer of <paramref name="layers"/> (<see cref="PyramidSlope"/>).</summary>
    public double TokenRatioOf(int layer, int layers) => layers < 2 || PyramidSlope == 0 ? TokenRatio
        : Math.Min(1, TokenRatio * (1 + PyramidSlope * (1 - 2.0 * layer / (layers - 1))));

    /// <summary>Tokens per summarised page: the KV pool's block size, which an engine serving summaries must use.</summary>
    public const int SummaryPageTokens = 16;

    /// <summary>The recent share of one layer and KV head.</summary>
    public double LocalFractionOf(int layer, int kvHead) => RecentFractions is { } f ? f[layer][kvHead] : LocalFraction;

    public static readonly KvPolicy Dense = new(KvPolicyKind.Dense);

    /// <summary>StreamingLLM keeps this many first tokens.</summary>
    public const int StreamingSinkTokens = 4;

    public bool IsDense => Kind == KvPolicyKind.Dense || Sparsity == 0;
    public double CachingRatio => 1 - Sparsity;
    /// <summary>Share of the cached tokens attended one by one (the caching ratio less the summaries' entries).</summary>
    public double TokenRatio => Summaries ? CachingRatio - 1.0 / SummaryPageTokens : CachingRatio;
    public bool NeedsPageSummaries => !IsDense && Summaries;
    public bool NeedsWindowScores => !IsDense && Kind == KvPolicyKind.Swa;
    public bool NeedsCumulativeScores => !IsDense && Kind == KvPolicyKind.H2O;
    /// <summary>Quest ranks by the current query (<see cref="Attention.QuestPageSelector"/>), not by past attention.</summary>
    public bool RanksByQuery => !IsDense && Kind == KvPolicyKind.Quest;
    /// <summary>Quest's pages read the per-page key bounds that the KV cache keeps as tokens are written.</summary>
    public bool NeedsPageBounds => RanksByQuery && !ExactTokens;

    public override string ToString()
    {
        if (Kind == KvPolicyKind.Dense) return "dense";
        var text = $"{Kind.ToString().ToLowerInvariant()}:{Sparsity.ToString(CultureInfo.InvariantCulture)}";
        if (Sinks > 0) text += $":sinks={Sinks}";
        if (LocalFraction != new KvPolicy(Kind).LocalFraction) text += $":local={LocalFraction.ToString(CultureInfo.InvariantCulture)}";
        if (MeanScores) text += ":mean";
        if (PerKvHead) text += ":per-head";
        if (RecentFractions is not null) text += ":learned";
        if (AdaptiveHeads) text += ":ada";
        if (ExactTokens) text += ":tokens";
        if (Summaries) text += ":summaries";
        if (PyramidSlope != 0) text += $":pyramid={PyramidSlope.ToString(CultureInfo.InvariantCulture)}";
        return text;
    }

    /// <param name="learned">the model's calibrated split, which the "learned" option takes its fractions from</param>
    public static KvPolicy Parse(string text, LearnedSplit? learned = null)
    {
        var parts = text.Trim().ToLowerInvariant().Split(':');
        var kind = parts[0] switch
        {
            "dense" => KvPolicyKind.Dense, "local" => KvPolicyKind.Local, "streaming" or "streamingllm" => KvPolicyKind.Streaming,
            "h2o" => KvPolicyKind.H2O, "swa" or "alisa" => KvPolicyKind.Swa, "quest" => KvPolicyKind.Quest,
            _ => throw new ArgumentException($"unknown KV policy '{parts[0]}' (dense, local, streaming, h2o, swa, quest)", "kv_policy"),
        };
        if (kind == KvPolicyKind.Dense) return parts.Length == 1 ? Dense : throw new ArgumentException("dense takes no sparsity", "kv_policy");
        if (parts.Length < 2 || !double.TryParse(parts[1], CultureInfo.InvariantCulture, out var sparsity))
            throw new ArgumentException($"'{text}': give the KV sparsity, e.g. {parts[0]}:0.8", "kv_policy");
        var policy = new KvPolicy(kind, sparsity);
        foreach (var option in parts.Skip(2))
        {
            var (key, value) = option.Split('=') is [var k, var v] ? (k, v) : (option, "");
            policy = (key, kind) switch
            {
                ("sinks", KvPolicyKind.Swa or KvPolicyKind.Quest) => policy with { Sinks = int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var sinks)
                    ? sinks : throw new ArgumentException($"'{text}': sinks must be an integer in [0, {MaxSinks}], got '{value}'", "kv_policy") },
                ("local", KvPolicyKind.Swa or KvPolicyKind.Quest) => policy with { LocalFraction = double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var local)
                    ? local : throw new ArgumentException($"'{text}': local must be a number in (0, 1], got '{value}'", "kv_policy") },
                ("per-head", KvPolicyKind.Swa) => policy with { PerKvHead = true },
                ("mean", KvPolicyKind.Swa) => policy with { MeanScores = true },
                ("ada", KvPolicyKind.Quest) => policy with { AdaptiveHeads = true },
                ("tokens", KvPolicyKind.Quest) => policy with { ExactTokens = true },
                ("summaries", _) => policy with { Summaries = true },
                ("pyramid", not KvPolicyKind.Quest) => policy with { PyramidSlope = value == "" ? DefaultPyramidSlope
                    : double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var slope)
                        ? slope : throw new ArgumentException($"'{text}': pyramid's slope must be a number in [-1, 1], got '{value}'", "kv_policy") },
                ("learned", KvPolicyKind.Swa) => policy with
                {
                    RecentFractions = (learned ?? throw new ArgumentException(
                        $"'{text}': this model has no learned split ({LearnedSplit.FileName}); run alisa calibrate first", "kv_policy")).For(sparsity),
                },
                _ => throw new ArgumentException($"'{text}': unknown option '{option}' for {parts[0]}", "kv_policy"),
            };
        }
        policy.Validate();
        return policy;
    }

    /// <summary>":pyramid" without a value: the lowest layer reads 1.5x the flat share, the highest 0.5x.</summary>
    public const double DefaultPyramidSlope = 0.5;

    /// <summary>Above this a policy keeps (almost) nothing; the gateway applies the same cap.</summary>
    public const double MaxSparsity = 0.99;
    public const int MaxSinks = 1 << 20;

    /// <summary>Throws for a sparse policy on a model with a sliding attention window: the window already bounds what a
    /// query reads, and sparse selection does not keep to it.</summary>
    public void CheckWindow(int? slidingWindow)
    {
        if (!IsDense && slidingWindow is int window)
            throw new ArgumentException($"KV policy {this} is not available for this model: its sliding attention window of {window} tokens " +
                "already bounds what a query reads, and sparse selection does not keep to that window (use dense)", "kv_policy");
    }

    public void Validate()
    {
        if (!(Sparsity >= 0 && Sparsity <= MaxSparsity))
            throw new ArgumentException($"KV sparsity must be in [0, {MaxSparsity}], got {Sparsity}", "kv_sparsity");
        bool quest = Kind == KvPolicyKind.Quest;
        if (!((quest ? LocalFraction >= 0 : LocalFraction > 0) && LocalFraction <= 1))
            throw new ArgumentException($"local fraction must be in {(quest ? "[0" : "(0")}, 1], got {LocalFraction}", "kv_policy");
        if (Summaries && Sparsity > 0 && TokenRatio <= 0)
            throw new ArgumentException($"summaries take one entry per {SummaryPageTokens} tokens of the budget: KV sparsity must be below " +
                $"{1 - 1.0 / SummaryPageTokens}, got {Sparsity}", "kv_sparsity");
        if (!(PyramidSlope >= -1 && PyramidSlope <= 1))
            throw new ArgumentException($"pyramid's slope must be in [-1, 1], got {PyramidSlope}", "kv_policy");
        if (Sinks < 0 || Sinks > MaxSinks) throw new ArgumentException($"sinks must be in [0, {MaxSinks}], got {Sinks}", "kv_policy");
        // the split differs between KV heads, so the selection must too
        if (RecentFractions is not null && (Kind != KvPolicyKind.Swa || !PerKvHead))
            throw new ArgumentException("a learned split needs per-KV-head SWA (swa:S:per-head:learned)", "kv_policy");
    }
}
