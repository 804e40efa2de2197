using System.Text.Json;
using System.Text.Json.Serialization;

namespace AlisaCluster.GpuWorker.Attention;

/// <summary>A model's learned local/global split for SWA: per calibrated sparsity, the share of the budget b that each
/// layer and KV head gives to its most recent tokens (the rest goes to the top windowed scores). Made by
/// `alisa calibrate` from text the model itself generated, so no evaluation text tunes it; stored next to the
/// checkpoint as <see cref="FileName"/>.</summary>
public sealed record LearnedSplit(string Source, IReadOnlyList<LearnedSplit.Level> Levels)
{
    public const string FileName = "alisa-split.json";

    /// <param name="Recent">[layer][KV head] share of the budget for the recent window, in (0, 1]</param>
    public sealed record Level(double Sparsity, double[][] Recent);

    /// <summary>The fractions of the calibrated sparsity nearest to <paramref name="sparsity"/> (a split learned at 80%
    /// is the best guess for 75%; interpolating shares between levels would invent splits nobody measured).</summary>
    public double[][] For(double sparsity) => Levels.MinBy(l => Math.Abs(l.Sparsity - sparsity))!.Recent;

    /// <summary>The split stored next to a checkpoint, or null when the model was never calibrated.</summary>
    public static LearnedSplit? FromModelFolder(string folder)
    {
        var path = Path.Combine(folder, FileName);
        return File.Exists(path) ? Load(path) : null;
    }

    public static LearnedSplit Load(string path)
    {
        var split = JsonSerializer.Deserialize(File.ReadAllText(path), LearnedSplitJson.Default.LearnedSplit)
            ?? throw new InvalidDataException($"{path}: empty split file");
        if (split.Levels is null || split.Levels.Count == 0) throw new InvalidDataException($"{path}: no calibrated sparsity levels");
        foreach (var level in split.Levels)
        {
            if (level.Recent is null || level.Recent.Length == 0 || level.Recent.Any(l => l is null || l.Length == 0))
                throw new InvalidDataException($"{path}: sparsity {level.Sparsity} has no fractions");
            if (level.Recent.SelectMany(l => l).Any(f => !(f > 0 && f <= 1)))
                throw new InvalidDataException($"{path}: fractions must be in (0, 1]");
        }
        return split;
    }

    public void Save(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, LearnedSplitJson.Default.LearnedSplit) + "\n");
}

/// <summary>Source-generated (de)serialization: trimmed builds, such as the GPU machine's, disable reflection-based JSON.</summary>
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(LearnedSplit))]
internal sealed partial class LearnedSplitJson : JsonSerializerContext;
