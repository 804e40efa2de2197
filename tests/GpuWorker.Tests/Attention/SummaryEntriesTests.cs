using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Kv;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Tests.Attention;

/// <summary>Sparse attention with page summaries against attention computed by hand, one query head at a time: the
/// selected tokens plus, per page, one entry of the unselected tokens' mean key and value weighted by their count.</summary>
public sealed class SummaryEntriesTests
{
    private const int KvHeads = 2, Group = 2, HeadDim = 8, BlockSize = 16;

    [Theory]
    [InlineData(KvStorageFormat.Native, "local:0.7:summaries", "local:0.7:summaries")]
    [InlineData(KvStorageFormat.Int8, "local:0.6:summaries", "local:0.7")]
    [InlineData(KvStorageFormat.Native, "local:0.7", "local:0.5:summaries")]
    public void OutputEqualsTheSelectedTokensPlusTheUnselectedPagesMeans(KvStorageFormat format, string first, string second)
    {
        random.manual_seed(13);
        int[] lengths = [70, 45];
        string[] policies = [first, second];
        using var cache = new KvCache(1, KvHeads, HeadDim, blockCount: 16, BlockSize, ScalarType.Float32, CPU, format, pageSummaries: true);
        var sequences = lengths.Select((n, b) =>
        {
            var kv = cache.CreateSequence();
            Assert.True(cache.TryReserve(kv, n));
            kv.Policy = KvPolicy.Parse(policies[b]);
            for (int t = 0; t < n - 1; t++) // every position but the last: the step writes that one
            {
                using var batch = new AttentionBatch(cache, [kv], 1, CPU);
                using var key = randn(1, KvHeads, HeadDim);
                using var value = randn(1, KvHeads, HeadDim);
                cache.Write(0, batch.Write, key, value);
                batch.CommitLengths();
            }
            return kv;
        }).ToList();
        using var step = new AttentionBatch(cache, sequences, 1, CPU);
        using var sparse = new SparseStep(step, null, CPU);
        using var query = randn(2, KvHeads * Group, 1, HeadDim);
        using var newKey = randn(2, KvHeads, 1, HeadDim);
        using var newValue = randn(2, KvHeads, 1, HeadDim);
        using var output = new SparseAttention(cache, step, sparse, null).Forward(0, query, newKey, newValue); // [B, 1, H x D]
        var actual = output.data<float>().ToArray();

        var q = query.data<float>().ToArray();
        for (int b = 0; b < 2; b++)
        {
            int n = lengths[b];
            var policy = sequences[b].Policy;
            using var slots = tensor(Enumerable.Range(0, n).Select(sequences[b].SlotOf).ToArray());
            var (k, v) = cache.Gather(0, slots); // [n, KvH, D], as attention reads them
            var keys = k.to(ScalarType.Float64).data<double>().ToArray();
            var values = v.to(ScalarType.Float64).data<double>().ToArray();
            k.Dispose(); v.Dispose();
            int recent = SelectionBudget.For(policy, n).Recent; // local: the last `recent` positions
            for (int h = 0; h < KvHeads * Group; h++)
            {
                int kvHead = h / Group;
                double[] Row(double[] rows, int t) => Enumerable.Range(0, HeadDim).Select(i => rows[(t * KvHeads + kvHead) * HeadDim + i]).ToArray();
                var qh = Enumerable.Range(0, HeadDim).Select(i => (double)q[(b * KvHeads * Group + h) * HeadDim + i]).ToArray();
                double Dot(double[] a) => a.Zip(qh, (x, y) => x * y).Sum() / Math.Sqrt(HeadDim);
                var entries = Enumerable.Range(n - recent, recent).Select(t => (Logit: Dot(Row(keys, t)), Value: Row(values, t))).ToList();
                if (policy.Summaries)
                    foreach (var page in Enumerable.Range(0, n - recent).GroupBy(t => t / BlockSize))
                    {
                        double[] Mean(double[] rows) => Enumerable.Range(0, HeadDim).Select(i => page.Average(t => Row(rows, t)[i])).ToArray();
                        entries.Add((Dot(Mean(keys)) + Math.Log(page.Count()), Mean(values)));
                    }
                double top = entries.Max(e => e.Logit), sum = entries.Sum(e => Math.Exp(e.Logit - top));
                for (int i = 0; i < HeadDim; i++)
                {
                    double expected = entries.Sum(e => Math.Exp(e.Logit - top) / sum * e.Value[i]);
                    Assert.Equal(expected, actual[(b * KvHeads * Group + h) * HeadDim + i], 4);
                }
            }
        }
    }
}
