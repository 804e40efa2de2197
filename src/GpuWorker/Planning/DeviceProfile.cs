using System.Text.Json;

namespace AlisaCluster.GpuWorker.Planning;

/// <summary>Timings measured once per (model, device, dtype, KV format, policy), stored as JSON and reused: decode step
/// time vs batch and length, prefix-prefill (recompute) time vs rows and length, and host/device copy bandwidth.</summary>
public sealed record DeviceProfile(string Key, IReadOnlyList<DeviceProfile.StepPoint> DecodeSteps, IReadOnlyList<DeviceProfile.PrefillPoint> Prefills,
    double FetchBytesPerSecond, double OffloadBytesPerSecond)
{
    public sealed record StepPoint(int Batch, int Length, double Seconds);
    public sealed record PrefillPoint(int Rows, int Length, double Seconds);

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public static DeviceProfile? TryLoad(string path, string key)
    {
        if (!File.Exists(path)) return null;
        var profile = JsonSerializer.Deserialize<DeviceProfile>(File.ReadAllText(path), Json);
        return profile?.Key == key ? profile : null;
    }

    /// <summary>Whether the timed decode steps reach every batch and length of <paramref name="points"/> (what
    /// <see cref="Profiler.DecodePoints"/> asks for a run): a profile stored by a narrower run would have the cost model
    /// extrapolate, so such a run measures afresh.</summary>
    public bool Covers(IEnumerable<(int Batch, int Length)> points) =>
        points.All(p => DecodeSteps.Any(s => s.Batch >= p.Batch) && DecodeSteps.Any(s => s.Length >= p.Length));

    public void Save(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.WriteAllText(path, JsonSerializer.Serialize(this, Json));
    }
}
