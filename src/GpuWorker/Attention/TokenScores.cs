using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Attention;

/// <summary>Per-token attention statistics that sparse policies rank tokens by, stored per KV-pool slot (so they live
/// and die with the token's KV):
/// - window history for SWA: [slots, groups, ring], the weight a token got at each of the last `ring` steps
///   (column = step mod ring; groups = 1 for one selection per layer, KV heads for per-head selection);
/// - cumulative weight and alive flags for H2O: [slots, KV heads].</summary>
public sealed class TokenScores : IDisposable
{
    private readonly Tensor[] _history;
    private readonly Tensor[] _cumulative;
    private readonly Tensor[] _alive;

    public TokenScores(int layers, long slots, int kvHeads, int ring, bool perHeadWindow, bool cumulative, Device device)
    {
        Ring = ring;
        WindowGroups = perHeadWindow ? kvHeads : 1;
        KvHeads = kvHeads;
        _history = ring > 0 ? Enumerable.Range(0, layers).Select(_ => zeros([slots, WindowGroups, ring], ScalarType.Float32, device)).ToArray() : [];
        _cumulative = cumulative ? Enumerable.Range(0, layers).Select(_ => zeros([slots, kvHeads], ScalarType.Float32, device)).ToArray() : [];
        _alive = cumulative ? Enumerable.Range(0, layers).Select(_ => ones([slots, kvHeads], ScalarType.Bool, device)).ToArray() : [];
    }

    public int Ring { get; }
    public int WindowGroups { get; }
    public int KvHeads { get; }
    public bool HasWindow => _history.Length > 0;
    public long Bytes => _history.Concat(_cumulative).Concat(_alive).Sum(t => t.numel() * t.element_size());
    public bool HasCumulative => _cumulative.Length > 0;

    /// <summary>Fresh tokens start with no history, no cumulative weight, alive.</summary>
    public void Reset(int layer, Tensor slots)
    {
        if (HasWindow) _history[layer].index_fill_(0, slots, Scalars.Of(0L));
        if (HasCumulative) { _cumulative[layer].index_fill_(0, slots, Scalars.Of(0L)); _alive[layer].index_fill_(0, slots, Scalars.Of(true)); }
    }

    /// <summary>S = the weight each position got over the steps whose ring columns have weight 1 in
    /// <paramref name="columnWeights"/> [B, ring]. Returns [B, groups, L] for read slots [B, L].</summary>
    public Tensor WindowSum(int layer, Tensor readSlots, Tensor columnWeights)
    {
        using var scope = NewDisposeScope();
        long b = readSlots.shape[0], l = readSlots.shape[1];
        var history = _history[layer].index_select(0, readSlots.reshape(-1)).view(b, l, WindowGroups, Ring);
        var sums = history.matmul(columnWeights.view(b, 1, Ring, 1)).view(b, l, WindowGroups);
        return sums.permute(0, 2, 1).MoveToOuterDisposeScope();
    }

    /// <summary>Writes rows [B, groups, Q, L] of weights into ring columns [B, Q] of each position's history.</summary>
    public void RecordWindow(int layer, Tensor readSlots, Tensor columns, Tensor rows)
    {
        using var scope = NewDisposeScope();
        long b = readSlots.shape[0], l = readSlots.shape[1], q = columns.shape[1], g = WindowGroups;
        var groups = arange(g, device: readSlots.device).view(1, g, 1, 1);
        var index = (readSlots.view(b, 1, 1, l) * Scalars.Of(g) + groups) * Scalars.Of((long)Ring) + columns.view(b, 1, q, 1);
        _history[layer].view(-1).index_copy_(0, index.reshape(-1), rows.reshape(-1));
    }

    /// <summary>Cumulative weights [B, KV heads, L] and alive flags of the read slots.</summary>
    public (Tensor Cumulative, Tensor Alive) CumulativeOf(int layer, Tensor readSlots)
    {
        long b = readSlots.shape[0], l = readSlots.shape[1];
        using var flat = readSlots.reshape(-1);
        using var cumulative = _cumulative[layer].index_select(0, flat);
        using var alive = _alive[layer].index_select(0, flat);
        return (cumulative.view(b, l, KvHeads).permute(0, 2, 1), alive.view(b, l, KvHeads).permute(0, 2, 1));
    }

    /// <summary>Adds weights [B, KV heads, L] to the cumulative sums and stores which tokens stay alive.</summary>
    public void RecordCumulative(int layer, Tensor readSlots, Tensor weights, Tensor alive)
    {
        using var scope = NewDisposeScope();
        long b = readSlots.shape[0], l = readSlots.shape[1];
        var heads = arange(KvHeads, device: readSlots.device).view(1, KvHeads, 1);
        var index = (readSlots.view(b, 1, l) * Scalars.Of((long)KvHeads) + heads).reshape(-1);
        _cumulative[layer].view(-1).index_add_(0, index, weights.reshape(-1), Scalars.Of(1L));
        _alive[layer].view(-1).index_copy_(0, index, alive.reshape(-1));
    }

    public void Dispose()
    {
        foreach (var t in _history.Concat(_cumulative).Concat(_alive)) t.Dispose();
    }
}
