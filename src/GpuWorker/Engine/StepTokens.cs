using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Engine;

/// <summary>The token each row of a decode step feeds: known on the host, or (async scheduling) picked by the previous
/// step and still on the device, in which case row b takes <c>Previous[Rows[b]]</c> (<c>Rows[b] &gt;= 0</c>).</summary>
public sealed class StepTokens(IReadOnlyList<int> host, Tensor? previous = null, IReadOnlyList<int>? rows = null)
{
    /// <summary>Row b's token where it is on the host (a placeholder where the row takes a previous pick).</summary>
    public IReadOnlyList<int> Host => host;

    /// <summary>The previous step's picked token ids [B'] (int64, on the model's device), or null: every token is on the host.</summary>
    public Tensor? Previous => previous;

    /// <summary>Per row, the previous step's row whose pick it feeds, or -1; null when <see cref="Previous"/> is.</summary>
    public IReadOnlyList<int>? Rows => previous is null ? null : rows;

    /// <summary>Every row's token on the host; reading the previous picks waits for the device.</summary>
    public IReadOnlyList<int> ToHost()
    {
        if (previous is null) return host;
        using var ids = previous.cpu();
        var picked = ids.data<long>().ToArray();
        return host.Select((token, b) => rows![b] >= 0 ? (int)picked[rows[b]] : token).ToList();
    }
}
