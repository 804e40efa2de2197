using System.Text.Json.Nodes;

namespace AlisaCluster.GpuWorker.Model;

/// <summary>The sampling settings a checkpoint's generation_config.json gives, applied to a request that does not set
/// them (as vLLM does: the fields present in the file, do_sample aside). Null = not given.</summary>
public sealed record GenerationDefaults(double? Temperature, double? TopP, int? TopK, double? RepetitionPenalty)
{
    public static readonly GenerationDefaults None = new(null, null, null, null);

    public static GenerationDefaults Parse(JsonObject json, string source)
    {
        try { return new((double?)json["temperature"], (double?)json["top_p"], (int?)json["top_k"], (double?)json["repetition_penalty"]); }
        catch (Exception e) when (e is FormatException or InvalidOperationException)
        { throw new InvalidDataException($"{source}: a sampling field is not a number ({e.Message})", e); }
    }
}
