using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Kv;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Tests.Kv;

public sealed class Int8KvStorageTests
{
    private const int KvHeads = 2, HeadDim = 8, BlockSize = 16;

    /// <summary>Writes tokens [from, to) of <paramref name="keys"/> for one sequence in one forward, as the runner does.</summary>
    private static void Write(KvCache cache, SequenceKv sequence, Tensor keys, Tensor values, int from, int to)
    {
        using var batch = new AttentionBatch(cache, [sequence], to - from, CPU);
        cache.Write(0, batch.Write, keys[from..to], values[from..to]);
        batch.CommitLengths();
    }

    [Fact]
    public void EveryRowReadsBackWithinHalfAStepPlusFp16RoundingOfItsParameters()
    {
        random.manual_seed(3);
        int tokens = 45; // a prefill of 20, then one by one: each row is quantised when written
        using var keys = randn(tokens, KvHeads, HeadDim).mul(Scalars.Of(3L)).add(Scalars.Of(1L), Scalars.One);
        using var values = randn(tokens, KvHeads, HeadDim);
        using var cache = new KvCache(1, KvHeads, HeadDim, blockCount: 4, BlockSize, ScalarType.Float32, CPU, KvStorageFormat.Int8);
        var sequence = cache.CreateSequence();
        Assert.True(cache.TryReserve(sequence, tokens));
        Write(cache, sequence, keys, values, 0, 20);
        for (int t = 20; t < tokens; t++) Write(cache, sequence, keys, values, t, t + 1);

        using var slots = tensor(Enumerable.Range(0, tokens).Select(p => sequence.SlotOf(p)).ToArray());
        var (readKeys, readValues) = cache.Gather(0, slots);
        foreach (var (original, read) in new[] { (keys, readKeys), (values, readValues) })
        {
            var min = original.amin([-1L], keepdim: true);
            var range = original.amax([-1L], keepdim: true) - min;                      // per (token, head)
            var fp16Rounding = min.abs().add(range, Scalars.One).mul(Scalars.Of(Math.Pow(2, -10)));                  // scale and min are stored as fp16
            var error = (read - original).abs();
            Assert.True((error <= range.div(Scalars.Of(255L)).div(Scalars.Of(2L)).add(fp16Rounding, Scalars.One)).all().item<bool>(), "error above half a quantization step");
            Assert.True(error.max().item<float>() > 0, "quantized rows should not be exact");
            Assert.Equal(0f, (read - Int8KvLayerStore.RoundTrip(original)).abs().max().item<float>()); // recomputed rows read the same
        }
    }

    [Fact]
    public void Int8RowsCostCodesPlusFourBytesAndReleasingFreesEveryBlock()
    {
        using var native = new KvCache(4, KvHeads, HeadDim, blockCount: 64, BlockSize, ScalarType.Float32, CPU);
        using var int8 = new KvCache(4, KvHeads, HeadDim, blockCount: 64, BlockSize, ScalarType.Float32, CPU, KvStorageFormat.Int8);
        Assert.Equal((HeadDim + 4.0) / (4 * HeadDim), (double)int8.PoolBytes / native.PoolBytes, 6);
        Assert.Equal(2L * 4 * KvHeads * (HeadDim + 4), int8.BytesPerToken);

        using var keys = randn(40, KvHeads, HeadDim);
        for (int round = 0; round < 10; round++)
        {
            var sequence = int8.CreateSequence();
            Assert.True(int8.TryReserve(sequence, 40));
            Write(int8, sequence, keys, keys, 0, 23);
            int8.Release(sequence);
        }
        Assert.Equal(0, int8.UsedBlocks);
    }
}
