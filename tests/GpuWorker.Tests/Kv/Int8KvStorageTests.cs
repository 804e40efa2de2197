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
    public void RoundTripErrorIsWithinHalfAStepPlusFp16RoundingOfTheBlockParameters()
    {
        random.manual_seed(3);
        int tokens = 45; // a prefill of 20, then one by one: blocks 0 and 1 get quantized, block 2 stays in the residual
        using var keys = randn(tokens, KvHeads, HeadDim) * 3 + 1;
        using var values = randn(tokens, KvHeads, HeadDim);
        using var cache = new KvCache(1, KvHeads, HeadDim, blockCount: 4, BlockSize, ScalarType.Float32, CPU, KvStorageFormat.Int8, maxSequences: 2);
        var sequence = cache.CreateSequence();
        Assert.True(cache.TryReserve(sequence, tokens));
        Write(cache, sequence, keys, values, 0, 20);
        for (int t = 20; t < tokens; t++) Write(cache, sequence, keys, values, t, t + 1);

        using var slots = tensor(Enumerable.Range(0, tokens).Select(p => sequence.SlotOf(p)).ToArray());
        var (readKeys, readValues) = cache.Gather(0, slots);
        foreach (var (original, read) in new[] { (keys, readKeys), (values, readValues) })
        {
            for (int block = 0; block < 2; block++)
            {
                var rows = original[(block * BlockSize)..((block + 1) * BlockSize)];
                var min = rows.amin([0L]);
                var range = rows.amax([0L]) - min;                                          // per channel
                var fp16Rounding = (min.abs() + range) * Math.Pow(2, -10);               // scale and min are stored as fp16
                var error = (read[(block * BlockSize)..((block + 1) * BlockSize)] - rows).abs();
                Assert.True((error <= range / 255 / 2 + fp16Rounding).all().item<bool>(), $"block {block}: error above half a quantization step");
                Assert.True(error.max().item<float>() > 0, "a quantized block should not be exact");
            }
            var partial = (read[32..] - original[32..]).abs().max().item<float>();
            Assert.Equal(0f, partial);                                                   // the residual block is exact
        }
    }

    [Fact]
    public void Int8PoolIsAboutAQuarterOfFp32AndReleasingFreesResiduals()
    {
        using var native = new KvCache(4, KvHeads, HeadDim, blockCount: 64, BlockSize, ScalarType.Float32, CPU);
        using var int8 = new KvCache(4, KvHeads, HeadDim, blockCount: 64, BlockSize, ScalarType.Float32, CPU, KvStorageFormat.Int8, maxSequences: 4);
        double ratio = (double)int8.PoolBytes / native.PoolBytes;
        Assert.InRange(ratio, 0.25, 0.45); // codes 1/4, plus fp16 scale/min per block-channel and 6 residual blocks

        using var keys = randn(40, KvHeads, HeadDim);
        for (int round = 0; round < 10; round++) // more sequences over time than residual blocks: they must be recycled
        {
            var sequence = int8.CreateSequence();
            Assert.True(int8.TryReserve(sequence, 40));
            Write(int8, sequence, keys, keys, 0, 23);
            int8.Release(sequence);
        }
        Assert.Equal(0, int8.UsedBlocks);
    }
}
