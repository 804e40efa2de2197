using AlisaCluster.GpuWorker.Attention;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Kv;

/// <summary>The GPU hot set (ALISA phase II on the kernel path). The tokens a selection lists change slowly from step
/// to step, so each sequence of a listing policy (SWA, H2O) keeps the rows its selection listed at its last step in
/// hot blocks of the GPU pool, one slot per entry it may list; a step copies only the rows listed anew (over PCIe
/// for CPU-tier tokens, see native/src/hot_set.cu) and the attention kernel reads the listed entries there. A tiered
/// sequence's older tokens can then all live on the CPU while a step moves only the selection's changes. Hot slots
/// are reserved with the room for the step's token (<see cref="TryReserve"/>), sized by the policy's budget.</summary>
public sealed partial class KvCache
{
    private Tensor? _hotPositions;  // [layers, GPU slots, KvH] int32: the position each pool row holds as a hot row (-1: none)
    private Tensor? _hotCounters;   // [4] int64: entries, rows copied from GPU blocks, rows copied from the CPU tier, bytes read from it

    /// <summary>Whether sequences keep hot blocks (a tiered pool with a CPU tier, created with the hot set on).</summary>
    public bool HasHotSet => _hotPositions is not null;

    /// <summary>Device bytes the hot set's position table takes per GPU pool slot (4 bytes per layer and KV head).</summary>
    public static long HotSetBytesPerSlot(int layers, int kvHeads) => 4L * layers * kvHeads;

    private void CreateHotSet(int layers, long gpuSlots, int kvHeads, Device device)
    {
        _hotPositions = full([layers, gpuSlots, kvHeads], Scalars.Of(-1L), ScalarType.Int32, device);
        _hotCounters = zeros(4, ScalarType.Int64, device);
    }

    /// <summary>Hot slots a sequence needs to decode with <paramref name="length"/> cached positions (the new one included).</summary>
    public static int HotSlotsFor(KvPolicy policy, int length) => SelectionBudget.MaxListed(policy, length);

    private int HotBlocksNeeded(SequenceKv sequence, int length) =>
        HasHotSet ? Math.Max(0, (HotSlotsFor(sequence.Policy, length) + BlockSize - 1) / BlockSize - sequence.HotBlocks.Count) : 0;

    /// <summary>Gives the sequence <paramref name="count"/> more hot blocks (free ones checked by the caller); their slots
    /// start empty, so rows another sequence left there are never taken for this one's.</summary>
    private void TakeHotBlocks(SequenceKv sequence, int count)
    {
        if (count == 0) return;
        var blocks = new List<int>(count);
        if (!_gpuBlocks.TryAllocate(count, blocks)) throw new InvalidOperationException("hot blocks were counted free");
        sequence.HotBlocks.AddRange(blocks);
        using var slots = DeviceUpload.Of(blocks.SelectMany(b => Enumerable.Range(b * BlockSize, BlockSize)).Select(s => (long)s).ToArray(), _device);
        _hotPositions!.index_fill_(1, slots, Scalars.Of(-1L));
    }

    /// <summary>Layer <paramref name="layer"/>'s hot positions [GPU slots, KvH] int32.</summary>
    public Tensor HotPositionsOf(int layer) => _hotPositions?[layer] ?? throw new InvalidOperationException("this KV cache keeps no hot set");

    /// <summary>The hot set's device counters [4] int64 (the update kernel adds to them).</summary>
    public Tensor HotCounters => _hotCounters ?? throw new InvalidOperationException("this KV cache keeps no hot set");

    /// <summary>What the hot set did so far: entries attended from hot slots, rows copied in from GPU blocks and from
    /// the CPU tier, and bytes read over PCIe. Reads device counters: waits for the device.</summary>
    public HotSetCounts ReadHotSet()
    {
        if (_hotCounters is null) return new(0, 0, 0, 0);
        var c = _hotCounters.cpu().data<long>().ToArray();
        return new(c[0], c[1], c[2], c[3]);
    }

    private void DisposeHotSet()
    {
        _hotPositions?.Dispose();
        _hotCounters?.Dispose();
    }
}

/// <param name="Entries">listed entries attended (summed over steps, layers and selection groups)</param>
/// <param name="CopiedFromGpu">of those, rows newly listed and copied in from GPU blocks (the rest were hits)</param>
/// <param name="CopiedFromCpu">rows newly listed and read from the CPU tier over PCIe</param>
/// <param name="BytesFromCpu">bytes those reads moved</param>
public sealed record HotSetCounts(long Entries, long CopiedFromGpu, long CopiedFromCpu, long BytesFromCpu)
{
    /// <summary>Share of entries found in the hot set.</summary>
    public double HitRate => Entries == 0 ? 0 : 1 - (double)(CopiedFromGpu + CopiedFromCpu) / Entries;
}
