using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Attention;

/// <summary>Per-token attention statistics that sparse policies rank tokens by, stored per KV-pool slot (so they live
/// and die with the token's KV):
/// - SWA's windowed sums [groups, slots] (the weight each token got over the score window), kept incrementally: each
///   step adds its weights and subtracts the steps that left the window, which it reads from a history ring
///   [groups, ring, slots] (column = step mod ring); groups = 1 for one selection per layer, KV heads per head.
///   Slots are the last dimension because the native upkeep walks a sequence's positions, whose slots are adjacent
///   within a block: a warp's reads and writes of one group and column then share a few memory sectors;
/// - cumulative weight and alive flags for H2O: [slots, KV heads].
/// The history ring is the store's bulk (every logical slot has one, the CPU tier's included, and it lives on the GPU):
/// a 16-bit model keeps it in fp16 (<see cref="HistoryTypeFor"/>), which halves it; a step then adds each weight to
/// the sum as the ring stores it, so what leaves the window later is exactly what entered.</summary>
public sealed class TokenScores : IDisposable
{
    private readonly Tensor[] _history;
    private readonly Tensor[] _sums;
    private readonly Tensor[] _cumulative;
    private readonly Tensor[] _alive;

    private readonly long _slots;

    public TokenScores(int layers, long slots, int kvHeads, int ring, bool perHeadWindow, bool cumulative, Device device,
        ScalarType historyType = ScalarType.Float32)
    {
        _slots = slots;
        if (historyType is not (ScalarType.Float32 or ScalarType.Float16))
            throw new ArgumentException($"the score history is float32 or float16, not {historyType}", nameof(historyType));
        Ring = ring;
        WindowGroups = perHeadWindow ? kvHeads : 1;
        KvHeads = kvHeads;
        HistoryType = historyType;
        _history = ring > 0 ? Enumerable.Range(0, layers).Select(_ => zeros([WindowGroups, ring, slots], historyType, device)).ToArray() : [];
        _sums = ring > 0 ? Enumerable.Range(0, layers).Select(_ => zeros([WindowGroups, slots], ScalarType.Float32, device)).ToArray() : [];
        _cumulative = cumulative ? Enumerable.Range(0, layers).Select(_ => zeros([slots, kvHeads], ScalarType.Float32, device)).ToArray() : [];
        _alive = cumulative ? Enumerable.Range(0, layers).Select(_ => ones([slots, kvHeads], ScalarType.Bool, device)).ToArray() : [];
    }

    public int Ring { get; }
    public ScalarType HistoryType { get; }

    /// <summary>The history ring's type for a model of <paramref name="modelType"/>: float32 models keep float32, 16-bit ones fp16.</summary>
    public static ScalarType HistoryTypeFor(ScalarType modelType) => modelType == ScalarType.Float32 ? ScalarType.Float32 : ScalarType.Float16;

    /// <summary>Bytes of one history entry for a model whose elements take <paramref name="elementSize"/> bytes.</summary>
    public static int HistoryBytesFor(int elementSize) => elementSize == 4 ? 4 : 2;
    public int WindowGroups { get; }
    public int KvHeads { get; }
    public bool HasWindow => _history.Length > 0;
    public long Bytes => _history.Concat(_sums).Concat(_cumulative).Concat(_alive).Sum(t => t.numel() * t.element_size());
    public bool HasCumulative => _cumulative.Length > 0;

    /// <summary>Fresh tokens start with no history, no window sum, no cumulative weight, alive.</summary>
    public void Reset(int layer, Tensor slots)
    {
        if (HasWindow) { _history[layer].index_fill_(2, slots, Scalars.Of(0L)); _sums[layer].index_fill_(1, slots, Scalars.Of(0L)); }
        ResetCumulative(layer, slots);
    }

    /// <summary>Fresh tokens' H2O statistics only (the native window upkeep resets their window scores itself).</summary>
    public void ResetCumulative(int layer, Tensor slots)
    {
        if (HasCumulative) { _cumulative[layer].index_fill_(0, slots, Scalars.Of(0L)); _alive[layer].index_fill_(0, slots, Scalars.Of(true)); }
    }

    /// <summary>A layer's window stores, history [groups, ring, slots] and sums [groups, slots], for the native upkeep.</summary>
    public (Tensor History, Tensor Sums) WindowStores(int layer) => (_history[layer], _sums[layer]);

    /// <summary>Where a step's read slots [B, L] sit in the window stores, worked out once for all layers: Sums
    /// [B, groups, L] (group * slots + slot), Written [B, groups, Q, L] the history entries of the step columns [B, Q],
    /// and per leaving column j [B, J] (-1 pads) the history entries Leaving[j] and which rows have one (Present[j]).</summary>
    public sealed record WindowIndex(Tensor Sums, Tensor Written, Tensor[] Leaving, Tensor[] Present) : IDisposable
    {
        public void Dispose() { Sums.Dispose(); Written.Dispose(); foreach (var t in Leaving.Concat(Present)) t.Dispose(); }
    }

    public WindowIndex IndexOf(Tensor readSlots, Tensor columns, Tensor? leavingColumns = null)
    {
        using var scope = NewDisposeScope();
        long b = readSlots.shape[0], l = readSlots.shape[1], g = WindowGroups;
        var group = Scalars.Arange(g, readSlots.device).view(1, g, 1);
        var sums = (group * Scalars.Of(_slots)).add(readSlots.view(b, 1, l), Scalars.One);
        var ring = (group * Scalars.Of(Ring * _slots)).add(readSlots.view(b, 1, l), Scalars.One); // column 0's entries
        var written = ring.unsqueeze(2).add(columns.view(b, 1, columns.shape[1], 1) * Scalars.Of(_slots), Scalars.One);
        long j = leavingColumns?.shape[1] ?? 0;
        var leaving = new Tensor[j];
        var present = new Tensor[j];
        for (long i = 0; i < j; i++)
        {
            var column = leavingColumns!.narrow(1, i, 1).view(b, 1, 1);
            leaving[i] = ring.add(column.clamp_min(Scalars.Of(0L)) * Scalars.Of(_slots), Scalars.One).view(-1).MoveToOuterDisposeScope();
            present[i] = column.ge(Scalars.Of(0L)).expand(b, g, l).reshape(-1).to(ScalarType.Float32).MoveToOuterDisposeScope();
        }
        return new WindowIndex(sums.view(-1).MoveToOuterDisposeScope(), written.reshape(-1).MoveToOuterDisposeScope(), leaving, present);
    }

    /// <summary>The windowed sums [B, groups, L] of the step's read slots.</summary>
    public Tensor WindowSum(int layer, WindowIndex index, long batch) =>
        _sums[layer].view(-1).index_select(0, index.Sums).view(batch, WindowGroups, -1);

    /// <summary>Subtracts from the sums the steps that left the window (the index's leaving columns).</summary>
    public void Slide(int layer, WindowIndex index)
    {
        for (int j = 0; j < index.Leaving.Length; j++)
        {
            using var leaving = _history[layer].view(-1).index_select(0, index.Leaving[j]).to(ScalarType.Float32);
            using var present = leaving * index.Present[j];
            _sums[layer].view(-1).index_add_(0, index.Sums, present, Scalars.Of(-1L));
        }
    }

    /// <summary>Zeroes the window sums of read slots [B, L] (a prefill then records its window afresh).</summary>
    public void ClearWindow(int layer, Tensor readSlots)
    {
        using var flat = readSlots.reshape(-1);
        _sums[layer].index_fill_(1, flat, Scalars.Of(0L));
    }

    /// <summary>Writes rows [B, groups, Q, L] of weights into the index's step columns of each position's history and
    /// adds them to its windowed sum.</summary>
    public void RecordWindow(int layer, WindowIndex index, Tensor rows)
    {
        using var stored = rows.to(HistoryType);
        _history[layer].view(-1).index_copy_(0, index.Written, stored.reshape(-1));
        using var total = stored.to(ScalarType.Float32).sum(2);
        _sums[layer].view(-1).index_add_(0, index.Sums, total.reshape(-1), Scalars.Of(1L));
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
        var heads = Scalars.Arange(KvHeads, readSlots.device).view(1, KvHeads, 1);
        var index = (readSlots.view(b, 1, l) * Scalars.Of((long)KvHeads)).add(heads, Scalars.One).reshape(-1);
        _cumulative[layer].view(-1).index_add_(0, index, weights.reshape(-1), Scalars.Of(1L));
        _alive[layer].view(-1).index_copy_(0, index, alive.reshape(-1));
    }

    public void Dispose()
    {
        foreach (var t in _history.Concat(_sums).Concat(_cumulative).Concat(_alive)) t.Dispose();
    }
}
