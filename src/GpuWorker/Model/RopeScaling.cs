using System.Text.Json.Nodes;

namespace AlisaCluster.GpuWorker.Model;

/// <summary>A config's RoPE variant and its parameters ("rope_parameters" of transformers 5, or "rope_scaling" plus
/// "rope_theta" of 4.x), and the inverse frequencies and cos/sin scale each variant gives, computed as transformers'
/// modeling_rope_utils computes them (in double here, rounded to float32 by the caller).</summary>
public sealed record RopeScaling
{
    public string Type { get; init; } = "default";
    public double Theta { get; init; } = 10000.0;
    public double Factor { get; init; } = 1.0;
    public int? OriginalMaxPositions { get; init; }
    public double LowFreqFactor { get; init; } = 1.0;
    public double HighFreqFactor { get; init; } = 4.0;
    public double BetaFast { get; init; } = 32;
    public double BetaSlow { get; init; } = 1;
    public bool Truncate { get; init; } = true;
    public double? AttentionFactor { get; init; }
    public double? Mscale { get; init; }
    public double? MscaleAllDim { get; init; }
    public double[]? ShortFactor { get; init; }
    public double[]? LongFactor { get; init; }

    public static readonly RopeScaling Default = new();

    /// <summary>Whether the frequencies depend on the sequence length (longrope switches to its long factors past
    /// <see cref="OriginalMaxPositions"/>).</summary>
    public bool HasLongFactors => Type == "longrope";

    public static RopeScaling Parse(JsonObject json, int headDim, int maxPositions, string source)
    {
        var parameters = json["rope_parameters"] as JsonObject ?? json["rope_scaling"] as JsonObject ?? new JsonObject();
        var type = (string?)parameters["rope_type"] ?? (string?)parameters["type"] ?? "default";
        double? Number(string key) => parameters[key] is JsonValue v && v.TryGetValue<double>(out var d) ? d : null;
        double[]? Numbers(string key) => (parameters[key] as JsonArray)?.Select(n => (double)n!).ToArray();
        var partial = Number("partial_rotary_factor") ?? (double?)json["partial_rotary_factor"] ?? 1.0;
        if (partial != 1.0)
            throw new NotSupportedException($"{source}: partial_rotary_factor {partial} is not supported (only full-width RoPE)");
        var rope = new RopeScaling
        {
            Type = type,
            Theta = Number("rope_theta") ?? (double?)json["rope_theta"] ?? 10000.0,
            Factor = Number("factor") ?? 1.0,
            OriginalMaxPositions = (int?)Number("original_max_position_embeddings") ?? (int?)json["original_max_position_embeddings"],
            LowFreqFactor = Number("low_freq_factor") ?? 1.0, HighFreqFactor = Number("high_freq_factor") ?? 4.0,
            BetaFast = Number("beta_fast") ?? 32, BetaSlow = Number("beta_slow") ?? 1,
            Truncate = (bool?)parameters["truncate"] ?? true,
            AttentionFactor = Number("attention_factor"), Mscale = Number("mscale"), MscaleAllDim = Number("mscale_all_dim"),
            ShortFactor = Numbers("short_factor"), LongFactor = Numbers("long_factor"),
        };
        string Need(string what) => $"{source}: rope type '{type}' needs {what}";
        switch (type)
        {
            case "default": break;
            case "linear" or "dynamic":
                if (Number("factor") is null) throw new InvalidDataException(Need("'factor'"));
                break;
            case "llama3" or "yarn":
                if (Number("factor") is null || rope.OriginalMaxPositions is null)
                    throw new InvalidDataException(Need("'factor' and 'original_max_position_embeddings'"));
                break;
            case "longrope":
                if (rope.ShortFactor?.Length != headDim / 2 || rope.LongFactor?.Length != headDim / 2)
                    throw new InvalidDataException(Need($"'short_factor' and 'long_factor' of {headDim / 2} numbers each"));
                if (rope.OriginalMaxPositions is null) throw new InvalidDataException(Need("'original_max_position_embeddings'"));
                if (Number("factor") is null) rope = rope with { Factor = (double)maxPositions / rope.OriginalMaxPositions.Value };
                break;
            default:
                throw new NotSupportedException(
                    $"{source}: rope type '{type}' is not supported (supported: default, linear, dynamic, yarn, llama3, longrope)");
        }
        return rope;
    }

    /// <summary>This variant's inverse frequencies from the default ones [headDim / 2] (1 / theta^(2i/headDim), which the
    /// caller computes in float32 as transformers does); <paramref name="longContext"/> picks longrope's long factors.</summary>
    public double[] Scale(double[] baseFreq, int headDim, bool longContext = false)
    {
        switch (Type)
        {
            case "linear": return baseFreq.Select(f => f / Factor).ToArray();
            case "llama3": return Llama3(baseFreq);
            case "yarn": return Yarn(baseFreq, headDim);
            case "longrope":
                var factors = longContext ? LongFactor! : ShortFactor!;
                return baseFreq.Select((f, i) => f / factors[i]).ToArray();
            default: return baseFreq; // "dynamic" equals default up to max_position_embeddings, the longest context served
        }
    }

    /// <summary>The factor transformers multiplies cos and sin by (yarn's and longrope's attention scaling).</summary>
    public double CosSinScale => Type switch
    {
        "yarn" => AttentionFactor ?? (Mscale is { } m && MscaleAllDim is { } all ? YarnMscale(Factor, m) / YarnMscale(Factor, all) : YarnMscale(Factor, 1)),
        "longrope" => AttentionFactor ?? (Factor <= 1 ? 1 : Math.Sqrt(1 + Math.Log(Factor) / Math.Log(OriginalMaxPositions!.Value))),
        _ => 1.0,
    };

    private static double YarnMscale(double scale, double mscale) => scale <= 1 ? 1.0 : 0.1 * mscale * Math.Log(scale) + 1.0;

    private double[] Llama3(double[] baseFreq)
    {
        double old = OriginalMaxPositions!.Value;
        double lowWavelen = old / LowFreqFactor, highWavelen = old / HighFreqFactor;
        return baseFreq.Select(f =>
        {
            double wavelen = 2 * Math.PI / f;
            if (wavelen < highWavelen) return f;
            if (wavelen > lowWavelen) return f / Factor;
            double smooth = (old / wavelen - LowFreqFactor) / (HighFreqFactor - LowFreqFactor);
            return (1 - smooth) * f / Factor + smooth * f;
        }).ToArray();
    }

    private double[] Yarn(double[] baseFreq, int dim)
    {
        double CorrectionDim(double rotations) =>
            dim * Math.Log(OriginalMaxPositions!.Value / (rotations * 2 * Math.PI)) / (2 * Math.Log(Theta));
        double low = CorrectionDim(BetaFast), high = CorrectionDim(BetaSlow);
        if (Truncate) (low, high) = (Math.Floor(low), Math.Ceiling(high));
        (low, high) = (Math.Max(low, 0), Math.Min(high, dim - 1));
        if (low == high) high += 0.001;
        return baseFreq.Select((f, i) =>
        {
            double ramp = Math.Clamp((i - low) / (high - low), 0, 1);
            double extrapolation = 1 - ramp;
            return f / Factor * (1 - extrapolation) + f * extrapolation;
        }).ToArray();
    }
}
