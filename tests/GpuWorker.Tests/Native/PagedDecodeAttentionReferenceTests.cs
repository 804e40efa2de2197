using AlisaCluster.GpuWorker.Kv;
using AlisaCluster.GpuWorker.Native;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Tests.Native;

/// <summary>The CPU reference of the paged decode attention kernel (what `alisa native-check` holds the kernel to)
/// must itself agree with plain attention over the gathered keys, for GQA, ragged lengths, shuffled blocks, a
/// per-KV-head selection, INT8 rows and a CPU tier.</summary>
public sealed class PagedDecodeAttentionReferenceTests
{
    private const int BlockSize = 4;
    private static readonly int[] Lengths = [1, 7, 13];

    /// <summary>Softmax attention of sequence b's heads of KV head h over the given positions' rows.</summary>
    private static Tensor Expected(Tensor query, Tensor keys, Tensor values, long[] slots, int b, int kvHead, int groups, float scale)
    {
        var index = tensor(slots);
        var k = keys.index_select(0, index)[.., kvHead];                                     // [n, D]
        var v = values.index_select(0, index)[.., kvHead];
        var q = query[b].narrow(0, kvHead * groups, groups);                                 // [G, D]
        return q.matmul(k.t()).mul(Scalars.Of(scale)).softmax(-1).matmul(v);                               // [G, D]
    }

    [Theory]
    [InlineData(2, 2, 64, false, false, false)]
    [InlineData(8, 2, 32, false, false, false)]
    [InlineData(4, 4, 16, false, false, false)]
    [InlineData(8, 2, 32, true, false, false)]
    [InlineData(8, 2, 32, true, true, false)]
    [InlineData(4, 2, 16, true, true, true)]
    public void MatchesSoftmaxAttentionOverTheAttendedRows(int heads, int kvHeads, int d, bool select, bool int8, bool cpuTier)
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        int batch = Lengths.Length, maxBlocks = 4, blocks = 1 + batch * maxBlocks, groups = heads / kvHeads;
        var keys = randn(blocks * BlockSize, kvHeads, d);
        var values = randn(blocks * BlockSize, kvHeads, d);
        var query = randn(batch, heads, d);
        var order = Enumerable.Range(1, blocks - 1).ToArray();
        new Random(5).Shuffle(order);
        var table = Enumerable.Range(0, batch * maxBlocks).Select(i => (long)order[i]).ToArray();
        float scale = 1 / MathF.Sqrt(d);

        // INT8 rows: the reference must read code * scale + min, i.e. what RoundTrip gives
        KvPoolTensors Pool(Tensor k, Tensor v)
        {
            if (!int8) return new(k, v);
            var (kc, kp) = Int8KvLayerStore.Quantize(k);
            var (vc, vp) = Int8KvLayerStore.Quantize(v);
            return new(kc, vc, kp, vp);
        }
        if (int8) (keys, values) = (Int8KvLayerStore.RoundTrip(keys), Int8KvLayerStore.RoundTrip(values));
        KvPoolTensors gpu = Pool(keys, values), cpu = gpu;
        long gpuBlocks = 0;
        var kernelTable = (long[])table.Clone();
        if (cpuTier)
        {
            // the same rows seen as two tiers: blocks >= 7 are "CPU" blocks 0.. of a second pool holding rows from block 7 on
            gpuBlocks = 7;
            cpu = Pool(keys.narrow(0, 7 * BlockSize, (blocks - 7) * BlockSize), values.narrow(0, 7 * BlockSize, (blocks - 7) * BlockSize));
            gpu = Pool(keys.narrow(0, 0, 7 * BlockSize), values.narrow(0, 0, 7 * BlockSize));
        }

        // a per-KV-head selection: one sink, two listed positions, the last three positions
        AttentionSelection? selection = null;
        long[][][] attended = Lengths.Select(n => Enumerable.Range(0, kvHeads).Select(_ => Enumerable.Range(0, n).Select(p => (long)p).ToArray()).ToArray()).ToArray();
        if (select)
        {
            var segments = new int[batch * kvHeads * 3];
            var listed = new int[batch * kvHeads * 2];
            for (int b = 0; b < batch; b++)
                for (int h = 0; h < kvHeads; h++)
                {
                    int n = Lengths[b], recent = Math.Max(1, n - 3), sinks = Math.Min(1, recent - 1 < 0 ? 0 : recent);
                    var middle = Enumerable.Range(sinks, Math.Max(0, recent - sinks)).Where(p => (p + h) % 3 == 0).Take(2).ToArray();
                    (segments[(b * kvHeads + h) * 3], segments[(b * kvHeads + h) * 3 + 1], segments[(b * kvHeads + h) * 3 + 2]) = (sinks, middle.Length, recent);
                    for (int i = 0; i < middle.Length; i++) listed[(b * kvHeads + h) * 2 + i] = middle[i];
                    attended[b][h] = Enumerable.Range(0, sinks).Concat(middle).Concat(Enumerable.Range(recent, n - recent)).Select(p => (long)p).ToArray();
                }
            selection = new AttentionSelection(tensor(segments, [batch, kvHeads, 3]), tensor(listed, [batch, kvHeads, 2]));
        }

        var lengths = tensor(Lengths.Select(n => (long)n).ToArray());
        var result = PagedDecodeAttentionReference.Run(query, gpu, tensor(kernelTable, [batch, maxBlocks]), lengths, BlockSize, scale,
            cpuTier ? cpu : null, gpuBlocks, selection);
        var (weights, positions) = PagedDecodeAttentionReference.Weights(result, lengths, kvHeads, selection);

        for (int b = 0; b < batch; b++)
            for (int h = 0; h < kvHeads; h++)
            {
                var slots = attended[b][h].Select(p => table[b * maxBlocks + p / BlockSize] * BlockSize + p % BlockSize).ToArray();
                var expected = Expected(query, keys, values, slots, b, h, groups, scale);
                var actual = result.Output[b].narrow(0, h * groups, groups);
                Assert.True(allclose(actual, expected, rtol: 1e-4, atol: 1e-5), $"sequence {b}, KV head {h}: max error {(actual - expected).abs().max().item<float>()}");
                Assert.Equal(attended[b][h], positions[b, h].data<long>().Take(attended[b][h].Length).ToArray());
                Assert.Equal(groups, weights[b, h].sum().item<float>(), 3);                    // each query head's weights sum to 1
            }
    }
}
