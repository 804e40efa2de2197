using AlisaCluster.GpuWorker.Native;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Tests.Native;

/// <summary>The CPU reference of the paged decode attention kernel (what `alisa native-check` holds the kernel to)
/// must itself agree with plain attention over the gathered keys, for GQA, ragged lengths and shuffled blocks.</summary>
public sealed class PagedDecodeAttentionReferenceTests
{
    [Theory]
    [InlineData(2, 2, 64)]
    [InlineData(8, 2, 32)]
    [InlineData(4, 4, 16)]
    public void MatchesSoftmaxAttentionOverTheGatheredKeys(int heads, int kvHeads, int d)
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        const int blockSize = 4;
        int[] lengths = [1, 7, 13];
        int batch = lengths.Length, maxBlocks = 4, blocks = 1 + batch * maxBlocks;
        var keys = randn(blocks * blockSize, kvHeads, d);
        var values = randn(blocks * blockSize, kvHeads, d);
        var query = randn(batch, heads, d);
        var order = Enumerable.Range(1, blocks - 1).ToArray();
        new Random(5).Shuffle(order);
        var table = tensor(Enumerable.Range(0, batch * maxBlocks).Select(i => (long)order[i]).ToArray(), [batch, maxBlocks]);
        float scale = 1 / MathF.Sqrt(d);

        var actual = PagedDecodeAttentionReference.Run(query, keys, values, table, tensor(lengths.Select(n => (long)n).ToArray()), blockSize, scale);

        for (int b = 0; b < batch; b++)
        {
            var slots = tensor(Enumerable.Range(0, lengths[b]).Select(p => table[b, p / blockSize].item<long>() * blockSize + p % blockSize).ToArray());
            var k = keys.index_select(0, slots).repeat_interleave(heads / kvHeads, 1).transpose(0, 1);   // [H, n, D]
            var v = values.index_select(0, slots).repeat_interleave(heads / kvHeads, 1).transpose(0, 1);
            var weights = (query[b].unsqueeze(1).matmul(k.transpose(1, 2)) * scale).softmax(-1);     // [H, 1, n]
            var expected = weights.matmul(v).squeeze(1);                                               // [H, D]
            Assert.True(allclose(actual[b], expected, rtol: 1e-4, atol: 1e-5), $"sequence {b}: max error {(actual[b] - expected).abs().max().item<float>()}");
        }
    }
}
