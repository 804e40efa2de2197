using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Kv;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Tests.Attention;

/// <summary>The selection itself, on hand-made attention weights.</summary>
public sealed class TokenSelectorTests : IDisposable
{
    private const int KvHeads = 2, Ring = 16;
    private readonly KvCache _cache = new(layers: 1, kvHeads: KvHeads, headDim: 4, blockCount: 8, blockSize: 16, ScalarType.Float32, CPU);
    private readonly TokenScores _scores;

    public TokenSelectorTests() =>
        _scores = new TokenScores(1, _cache.SlotCount, KvHeads, Ring, perHeadWindow: false, cumulative: true, CPU);

    /// <summary>A batch where each sequence is about to feed its token number n (n - 1 cached before).</summary>
    private AttentionBatch Batch(KvPolicy policy, params int[] lengths)
    {
        var sequences = lengths.Select(n =>
        {
            var kv = _cache.CreateSequence();
            Assert.True(_cache.TryReserve(kv, n));
            kv.Length = n - 1;
            kv.Policy = policy;
            return kv;
        }).ToList();
        return new AttentionBatch(_cache, sequences, 1, CPU);
    }

    private static bool[] Row(Tensor mask, int b, int g) => mask[b, g].data<bool>().ToArray();

    private static int[] Selected(bool[] row) => row.Select((keep, i) => (keep, i)).Where(p => p.keep).Select(p => p.i).ToArray();

    /// <summary>Weights that position j received at one step, as a [1, 1, 1, L] row for the step's ring column.</summary>
    private void RecordStep(AttentionBatch batch, int step, Dictionary<int, float> weights)
    {
        var row = new float[batch.KeyLength];
        foreach (var (position, weight) in weights) row[position] = weight;
        using var rows = tensor(row, [1, 1, 1, batch.KeyLength]);
        using var columns = tensor(new long[] { step % Ring }, [1, 1]);
        using (var index = _scores.IndexOf(batch.ReadSlots, columns)) _scores.RecordWindow(0, index, rows);
    }

    [Fact]
    public void SwaKeepsTheRecentWindowAndTheTopWindowedScoresOnly()
    {
        // n = 12, sparsity 0.5: k = 3 -> recent 9, 10, 11 and the 3 best of 0..8 by the weights of steps 8..10
        using var batch = Batch(new KvPolicy(KvPolicyKind.Swa, 0.5), 12);
        RecordStep(batch, 7, new() { [0] = 50f, [1] = 40f });                // step 7 is outside the window: ignored
        RecordStep(batch, 8, new() { [2] = 0.5f, [5] = 0.2f, [3] = 0.05f });
        RecordStep(batch, 9, new() { [5] = 0.2f, [7] = 0.3f, [4] = 0.1f });
        RecordStep(batch, 10, new() { [2] = 0.1f, [7] = 0.1f });
        using var step = new SparseStep(batch, _scores, CPU);
        using var mask = SelectionMasks.Of(0, step, _scores, batch);
        Assert.Equal([2, 5, 7, 9, 10, 11], Selected(Row(mask, 0, 0)));
    }

    [Fact]
    public void EverySequenceOfAMixedLengthBatchGetsItsOwnBudgetWithoutDuplicatesOrPadding()
    {
        var policy = new KvPolicy(KvPolicyKind.Swa, 0.7);
        using var batch = Batch(policy, 40, 9, 1);
        using var step = new SparseStep(batch, _scores, CPU);
        using var mask = SelectionMasks.Of(0, step, _scores, batch);
        foreach (var (n, b) in new[] { (40, 0), (9, 1), (1, 2) })
        {
            var selected = Selected(Row(mask, b, 0));
            var budget = SelectionBudget.For(policy, n);
            Assert.All(selected, p => Assert.True(p < n));                              // no padding position
            Assert.Equal(selected.Length, selected.Distinct().Count());
            Assert.True(selected.Length <= budget.Recent + budget.Global);
            Assert.Subset(selected.ToHashSet(), Enumerable.Range(n - budget.Recent, budget.Recent).ToHashSet()); // recent window always in
            Assert.Contains(n - 1, selected);
        }
    }

    [Fact]
    public void LocalAndStreamingSelectExactlyTheirWindows()
    {
        using (var batch = Batch(new KvPolicy(KvPolicyKind.Local, 0.8), 30))            // b = 6
        using (var step = new SparseStep(batch, _scores, CPU))
        using (var mask = SelectionMasks.Of(0, step, _scores, batch))
            Assert.Equal(Enumerable.Range(24, 6), Selected(Row(mask, 0, 0)));
        using (var batch = Batch(new KvPolicy(KvPolicyKind.Streaming, 0.8), 30))        // 4 sinks + last 2
        using (var step = new SparseStep(batch, _scores, CPU))
        using (var mask = SelectionMasks.Of(0, step, _scores, batch))
            Assert.Equal([0, 1, 2, 3, 28, 29], Selected(Row(mask, 0, 0)));
    }

    [Fact]
    public void H2OKeepsHeavyHittersPerKvHeadAmongTheLiving()
    {
        // n = 12, sparsity 0.5: b = 6, k = 3 -> recent 9..11 + per head the 3 alive ones with the largest cumulative weight
        using var batch = Batch(new KvPolicy(KvPolicyKind.H2O, 0.5), 12);
        var weights = new float[1 * KvHeads * 12];
        void Set(int head, int position, float w) => weights[head * 12 + position] = w;
        Set(0, 1, 5); Set(0, 4, 4); Set(0, 6, 3); Set(0, 8, 2); Set(0, 0, 9);
        Set(1, 2, 5); Set(1, 3, 4); Set(1, 7, 3);
        var alive = Enumerable.Repeat(true, KvHeads * 12).ToArray();
        alive[0] = false;                                                               // head 0 evicted position 0 earlier
        using (var w = tensor(weights, [1, KvHeads, 12]))
        using (var a = tensor(alive, [1, KvHeads, 12]))
            _scores.RecordCumulative(0, batch.ReadSlots, w, a);
        using var step = new SparseStep(batch, _scores, CPU);
        using var mask = SelectionMasks.Of(0, step, _scores, batch);
        Assert.Equal([1, 4, 6, 9, 10, 11], Selected(Row(mask, 0, 0)));
        Assert.Equal([2, 3, 7, 9, 10, 11], Selected(Row(mask, 0, 1)));
    }

    [Fact]
    public void EntriesPastARowsCountNeverClearAListedPosition()
    {
        // row 0 lists positions 0 and 5; its entries past the count repeat position 0, as a mixed batch's widening pads
        using var selection = new TokenSelection(tensor(new[] { 0, 2, 10 }, [1, 1, 3]), tensor(new long[] { 0, 5, 0, 0 }, [1, 1, 4]), tensor(new long[] { 12 }));
        using var mask = selection.ToMask(12);
        Assert.Equal(new[] { true, false, false, false, false, true, false, false, false, false, true, true }, mask.data<bool>().ToArray());
    }

    public void Dispose()
    {
        _scores.Dispose();
        _cache.Dispose();
    }
}
