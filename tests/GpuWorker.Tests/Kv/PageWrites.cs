using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Kv;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Tests.Kv;

/// <summary>The writes the per-page statistics (Quest's bounds, the summaries) are checked against: two sequences
/// prefilled with 21 tokens (one whole block, one partial), then fed one by one across two more blocks; then one is
/// released and a new sequence writes small keys into its blocks, which must start afresh.</summary>
internal static class PageWrites
{
    public const int Layers = 2, KvHeads = 2, HeadDim = 8, BlockSize = 16;

    /// <summary>Runs the writes on <paramref name="cache"/>, calling <paramref name="check"/>(sequence, length) after each.</summary>
    public static void Run(KvCache cache, Action<SequenceKv, int> check)
    {
        const int tokens = 53;
        var sequences = Enumerable.Range(0, 2).Select(_ => cache.CreateSequence()).ToList();
        foreach (var s in sequences) Assert.True(cache.TryReserve(s, tokens));
        var keys = sequences.Select(_ => randn(tokens, KvHeads, HeadDim).mul(Scalars.Of(2L)).add(Scalars.Of(0.5), Scalars.One)).ToList();
        Write(cache, sequences, keys, 0, 21);
        check(sequences[0], 21);
        for (int t = 21; t < tokens; t++)
        {
            Write(cache, sequences, keys, t, t + 1);
            foreach (var s in sequences) check(s, t + 1);
        }
        cache.Release(sequences[0]);
        var next = cache.CreateSequence();
        Assert.True(cache.TryReserve(next, 20));
        var small = new List<Tensor> { rand(20, KvHeads, HeadDim).mul(Scalars.Of(0.01)) };
        for (int t = 0; t < 20; t++) Write(cache, [next], small, t, t + 1);
        check(next, 20);
        foreach (var k in keys.Concat(small)) k.Dispose();
    }

    /// <summary>Writes tokens [from, to) of each sequence in one forward: keys x (layer + 1), values their negation.</summary>
    private static void Write(KvCache cache, IReadOnlyList<SequenceKv> sequences, IReadOnlyList<Tensor> keys, int from, int to)
    {
        using var batch = new AttentionBatch(cache, sequences, to - from, CPU);
        using var rows = cat(keys.Select(k => k[from..to]).ToArray(), 0);
        for (int layer = 0; layer < Layers; layer++)
        {
            using var layerRows = rows.mul(Scalars.Of(layer + 1L));
            cache.Write(layer, batch.Write, layerRows, layerRows.neg());
        }
        batch.CommitLengths();
    }

    /// <summary>Calls <paramref name="check"/>(layer, block, keys, values) for every layer and page that a sequence of
    /// <paramref name="length"/> tokens wrote, with the page's rows as the cache reads them back.</summary>
    public static void ForEachPage(KvCache cache, SequenceKv sequence, int length, Action<int, long, Tensor, Tensor> check)
    {
        for (int layer = 0; layer < Layers; layer++)
            for (int page = 0; page * BlockSize < length; page++)
            {
                int end = Math.Min(length, (page + 1) * BlockSize);
                using var slots = tensor(Enumerable.Range(page * BlockSize, end - page * BlockSize).Select(sequence.SlotOf).ToArray());
                var (keys, values) = cache.Gather(layer, slots);
                using (values) using (keys) check(layer, sequence.Blocks[page], keys, values);
            }
    }
}
