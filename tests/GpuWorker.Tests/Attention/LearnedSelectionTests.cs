using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Kv;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Tests.Attention;

/// <summary>Selection under a learned split: every layer and KV head keeps its own recent window and global share.</summary>
public sealed class LearnedSelectionTests : IDisposable
{
    private const int Layers = 2, KvHeads = 2, Ring = 16;
    private readonly KvCache _cache = new(layers: Layers, kvHeads: KvHeads, headDim: 4, blockCount: 16, blockSize: 16, ScalarType.Float32, CPU);
    private readonly TokenScores _scores;

    private static readonly LearnedSplit Split = new("test", [new(0.5, [[1.0, 0.5], [0.75, 0.625]])]);

    public LearnedSelectionTests() =>
        _scores = new TokenScores(Layers, _cache.SlotCount, KvHeads, Ring, perHeadWindow: true, cumulative: false, CPU);

    private AttentionBatch Batch(IReadOnlyList<(KvPolicy Policy, int Length)> rows)
    {
        var sequences = rows.Select(row =>
        {
            var kv = _cache.CreateSequence();
            Assert.True(_cache.TryReserve(kv, row.Length));
            kv.Length = row.Length - 1;
            kv.Policy = row.Policy;
            return kv;
        }).ToList();
        return new AttentionBatch(_cache, sequences, 1, CPU);
    }

    /// <summary>Per KV head, the weight positions received at one step of the score window, in every layer and sequence.</summary>
    private void RecordStep(AttentionBatch batch, int step, Dictionary<int, float>[] perHead)
    {
        int b = batch.Sequences.Count, l = batch.KeyLength;
        var row = new float[b * KvHeads * l];
        for (int s = 0; s < b; s++)
        for (int h = 0; h < KvHeads; h++)
            foreach (var (position, weight) in perHead[h]) row[(s * KvHeads + h) * l + position] = weight;
        using var rows = tensor(row, [b, KvHeads, 1, l]);
        using var columns = tensor(Enumerable.Repeat((long)(step % Ring), b).ToArray(), [b, 1]);
        using var index = _scores.IndexOf(batch.ReadSlots, columns);
        for (int layer = 0; layer < Layers; layer++) _scores.RecordWindow(layer, index, rows);
    }

    private static int[] Selected(Tensor mask, int b, int h) =>
        mask[b, h].data<bool>().ToArray().Select((keep, i) => (keep, i)).Where(p => p.keep).Select(p => p.i).ToArray();

    [Fact]
    public void EachLayerAndHeadKeepsItsRecentShareAndItsTopScores()
    {
        // n = 12, sparsity 0.5: b = 6, k = 3; the window is steps 8..10
        using var batch = Batch([(KvPolicy.Parse("swa:0.5:per-head:learned", Split), 12)]);
        RecordStep(batch, 7, [new() { [3] = 90f }, new() { [0] = 90f }]);           // outside the window: ignored
        RecordStep(batch, 8, [new() { [0] = 5f, [5] = 1f }, new() { [1] = 5f, [4] = 3f }]);
        RecordStep(batch, 9, [new() { [2] = 4f }, new() { [3] = 4f }]);
        RecordStep(batch, 10, [new() { [7] = 3f }, new() { [6] = 2f }]);
        using var step = new SparseStep(batch, _scores, CPU);
        using (var layer0 = SelectionMasks.Of(0, step, _scores, batch))
        {
            Assert.Equal([6, 7, 8, 9, 10, 11], Selected(layer0, 0, 0));                // share 1: the last b, like local
            Assert.Equal([1, 3, 4, 9, 10, 11], Selected(layer0, 0, 1));                // share 0.5: k recent + top 3
        }
        using var layer1 = SelectionMasks.Of(1, step, _scores, batch);
        Assert.Equal([0, 2, 8, 9, 10, 11], Selected(layer1, 0, 0));                    // share 0.75: round(4.5) = 4 recent + 2
        Assert.Equal([1, 3, 8, 9, 10, 11], Selected(layer1, 0, 1));                    // share 0.625: round(3.75) = 4 recent + 2
    }

    [Fact]
    public void AMixedBatchRespectsEveryRowsBudgetInEveryLayer()
    {
        var learned = KvPolicy.Parse("swa:0.5:per-head:learned", Split);
        var rows = new (KvPolicy Policy, int Length)[] { (learned, 40), (KvPolicy.Parse("swa:0.5"), 33), (KvPolicy.Parse("local:0.5"), 20), (learned, 3) };
        using var batch = Batch(rows);
        var random = new Random(1);
        for (int s = 0; s < batch.KeyLength; s++)
            RecordStep(batch, s, [.. Enumerable.Range(0, KvHeads).Select(_ => Enumerable.Range(0, batch.KeyLength).ToDictionary(p => p, _ => (float)random.NextDouble()))]);
        using var step = new SparseStep(batch, _scores, CPU);
        for (int layer = 0; layer < Layers; layer++)
        {
            using var mask = SelectionMasks.Of(layer, step, _scores, batch);
            for (int b = 0; b < rows.Length; b++)
            for (int h = 0; h < KvHeads; h++)
            {
                var (policy, n) = rows[b];
                var budget = SelectionBudget.For(policy, n, layer, h);
                var selected = Selected(mask, b, h);
                Assert.All(selected, p => Assert.True(p < n));                              // no padding position
                Assert.Equal(Math.Min(n, budget.Recent + budget.Global), selected.Length);  // the whole budget, used once
                Assert.Subset(selected.ToHashSet(), Enumerable.Range(n - budget.Recent, budget.Recent).ToHashSet());
                Assert.True(selected.Length <= step.Layer(layer).MaxEntries);
            }
        }
    }

    public void Dispose()
    {
        _scores.Dispose();
        _cache.Dispose();
    }
}
