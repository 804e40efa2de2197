using AlisaCluster.GpuWorker.Engine;
using AlisaCluster.GpuWorker.Kv;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Tests.Engine;

/// <summary>The graph step's static inputs: what a step stages must be exactly the batch's tokens, positions, write
/// slots, lengths and block tables, with padding rows pointing at the scratch block, also as rows change owner and as
/// blocks move to the CPU tier.</summary>
public sealed class DecodeInputsTests : IDisposable
{
    private readonly KvCache _cache = new(1, 1, 4, blockCount: 15, blockSize: 4, ScalarType.Float32, CPU);

    public void Dispose() => _cache.Dispose();

    private static SequenceKv Sequence(int length, params int[] blocks)
    {
        var kv = new SequenceKv(4) { Length = length };
        kv.Blocks.AddRange(blocks);
        return kv;
    }

    private static long[] Values(Tensor t) => t.to(ScalarType.Int64).data<long>().ToArray();

    [Fact]
    public void StagesTheBatchAndPadsToTheBucket()
    {
        using var inputs = new DecodeInputs(_cache, maxBatch: 4, maxBlocks: 3, maxHotBlocks: 0, CPU);
        using var bucket = inputs.View(4);
        var a = Sequence(5, 7, 2);          // position 5 = block 2, offset 1 -> slot 9
        var b = Sequence(0, 3);             // position 0 = block 3 -> slot 12
        inputs.Stage([a, b], [11, 22], 4);
        Assert.Equal([11, 22, 0, 0], Values(bucket.Tokens));
        Assert.Equal([5, 0, 0, 0], Values(bucket.Positions));
        Assert.Equal([9, 12, 0, 0], Values(bucket.Write.Slots));
        Assert.Equal([9, 12, 0, 0], Values(bucket.ScoreWriteSlots));     // untiered: logical slots are the pool's
        Assert.Equal([6, 1, 1, 1], Values(bucket.Lengths));
        Assert.Equal([7, 2, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0], Values(bucket.BlockTable));
        Assert.Equal(Values(bucket.BlockTable), Values(bucket.LogicalTable));
    }

    [Fact]
    public void KernelRowsFollowBlocksMovedToTheCpuTier()
    {
        using var cache = new KvCache(1, 1, 4, blockCount: 8, blockSize: 4, ScalarType.Float32, CPU, tiers: new KvTiers(CpuBlocks: 4, DroppedBlocks: 0));
        using var inputs = new DecodeInputs(cache, maxBatch: 1, maxBlocks: 4, maxHotBlocks: 0, CPU);
        using var bucket = inputs.View(1);
        var sequence = cache.CreateSequence();
        Assert.True(cache.TryReserve(sequence, 12));
        sequence.Length = 9;
        inputs.Stage([sequence], [1], 1);
        var logical = Values(bucket.LogicalTable)[..3];
        Assert.All(Values(bucket.BlockTable)[..3], block => Assert.True(block < cache.GpuPoolBlocks));

        cache.MoveDown([(sequence, 1, 0)]);  // the first block to the CPU: the kernel reads it from the CPU pool now
        inputs.Stage([sequence], [1], 1);
        Assert.Equal(logical, Values(bucket.LogicalTable)[..3]);
        var kernel = Values(bucket.BlockTable);
        Assert.True(kernel[0] >= cache.GpuPoolBlocks);
        Assert.Equal(cache.KernelBlockOf(sequence.Blocks[1]), kernel[1]);
        Assert.Equal(sequence.SlotOf(9), Values(bucket.ScoreWriteSlots)[0]);
        Assert.Equal(cache.KernelBlockOf(sequence.Blocks[2])!.Value * 4 + 1, Values(bucket.Write.Slots)[0]);
    }

    [Fact]
    public void BlockTableRowsFollowNewBlocksOwnersAndPreemption()
    {
        using var inputs = new DecodeInputs(_cache, maxBatch: 2, maxBlocks: 3, maxHotBlocks: 0, CPU);
        using var bucket = inputs.View(2);
        var a = Sequence(3, 5);
        var b = Sequence(1, 6);
        inputs.Stage([a, b], [1, 1], 2);
        a.Blocks.Add(8);                     // a grows into a new block
        a.Length = 4;
        inputs.Stage([a, b], [1, 1], 2);
        Assert.Equal([5, 8, 0, 6, 0, 0], Values(bucket.BlockTable));

        inputs.Stage([b, a], [1, 1], 2);     // rows change owner: each row's blocks rewritten (entries past them are never read)
        var table = Values(bucket.BlockTable);
        Assert.Equal(6, table[0]);
        Assert.Equal([5, 8], table[3..5]);

        // a preempted sequence gets other blocks under the same object: its generation tells the row is stale
        a.Blocks.Clear();
        a.Generation++;
        a.Blocks.AddRange([9, 4]);
        inputs.Stage([b, a], [1, 1], 2);
        Assert.Equal([9, 4], Values(bucket.BlockTable).Skip(3).Take(2).ToArray());
    }

    [Fact]
    public void LogicalSlotsCoverEachRowUpToItsLengthAndPointPaddingAtTheScratchSlot()
    {
        using var inputs = new DecodeInputs(_cache, maxBatch: 2, maxBlocks: 3, maxHotBlocks: 0, CPU);
        using var bucket = inputs.View(2);
        inputs.Stage([Sequence(5, 7, 2), Sequence(1, 3)], [1, 1], 2);   // lengths 6 and 2 with the fed tokens
        using var slots = bucket.LogicalSlots(blockSize: 4, maxLength: 8);
        Assert.Equal([28, 29, 30, 31, 8, 9, 0, 0, 12, 13, 0, 0, 0, 0, 0, 0], Values(slots));
    }

    [Fact]
    public void RefusesASequenceWithoutRoomForItsToken()
    {
        using var inputs = new DecodeInputs(_cache, maxBatch: 1, maxBlocks: 2, maxHotBlocks: 0, CPU);
        Assert.Throws<InvalidOperationException>(() => inputs.Stage([Sequence(4, 1)], [1], 1)); // 4 slots, needs a 5th
    }
}
