using AlisaCluster.GpuWorker.Kv;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Attention;

/// <summary>Per-step attention metadata shared by all layers: where each sequence's new K/V go, which cached
/// positions every query may read, and the positions of the new tokens. Built once per forward.</summary>
public sealed class AttentionBatch : IDisposable
{
    /// <summary>Sequences in the batch, each feeding <see cref="QueryLength"/> new tokens at its current length.</summary>
    public IReadOnlyList<SequenceKv> Sequences { get; }
    public int QueryLength { get; }
    /// <summary>Longest key length in the batch (shorter sequences are padded and masked).</summary>
    public int KeyLength { get; }
    /// <summary>Where the new tokens' K/V go: [B * Tq] GPU pool slots, plus storage-format details.</summary>
    public WritePlan Write { get; }
    /// <summary>[B * Tq] logical slots of the new tokens (what their scores are indexed by).</summary>
    public Tensor WriteSlots { get; }
    /// <summary>[B, L] pool slots of positions 0..L-1 (padding points at slot 0 and is masked).</summary>
    public Tensor ReadSlots { get; }
    /// <summary>[B, 1, Tq, L] true where query i of sequence b may attend to key position j (causal and in range).</summary>
    public Tensor Mask { get; }
    /// <summary>The mask for GQA's folded queries [B, 1, G * Tq, L] (see <see cref="PagedAttention"/>), built once per step.</summary>
    public Tensor GroupedMask(long groups)
    {
        if (groups == 1) return Mask;
        if (_groupedMask is null || _groupedMask.shape[2] != groups * QueryLength)
        {
            _groupedMask?.Dispose();
            _groupedMask = Mask.repeat(1, 1, groups, 1).DetachFromDisposeScope(); // owned by this batch, not the caller's scope
        }
        return _groupedMask;
    }

    private Tensor? _groupedMask;

    /// <summary>[B, Tq] absolute positions of the new tokens.</summary>
    public Tensor Positions { get; }
    /// <summary>Per sequence: positions cached before this step (the first new token's position).</summary>
    public IReadOnlyList<int> StartPositions { get; }
    /// <summary>Whether any sequence has blocks on the CPU tier: only then does a gather look for rows there (which costs
    /// a host sync per layer; a prefill of fresh prompts next to offloaded sequences needs none).</summary>
    public bool ReadsCpuTier { get; }

    /// <param name="slidingWindow">the model's attention window (Mistral): query i reads keys i - W + 1 .. i only</param>
    public AttentionBatch(KvCache cache, IReadOnlyList<SequenceKv> sequences, int queryLength, Device device, int? slidingWindow = null)
    {
        Sequences = sequences;
        QueryLength = queryLength;
        int batch = sequences.Count;
        StartPositions = sequences.Select(s => s.Length).ToArray();
        ReadsCpuTier = sequences.Any(s => s.OffloadedBlocks > s.DroppedBlocks);
        KeyLength = StartPositions.Max() + queryLength;
        var write = new long[batch * queryLength];
        var read = new long[batch * KeyLength];
        var mask = new bool[batch * queryLength * KeyLength];
        var positions = new long[batch * queryLength];
        for (int b = 0; b < batch; b++)
        {
            var seq = sequences[b];
            int start = StartPositions[b];
            if (seq.Capacity < start + queryLength)
                throw new InvalidOperationException($"sequence KV holds {seq.Capacity} slots, needs {start + queryLength}");
            for (int j = 0; j < start + queryLength; j++) read[b * KeyLength + j] = seq.SlotOf(j);
            for (int i = 0; i < queryLength; i++)
            {
                int position = start + i;
                write[b * queryLength + i] = seq.SlotOf(position);
                positions[b * queryLength + i] = position;
                var row = (b * queryLength + i) * KeyLength;
                for (int j = slidingWindow is int w ? Math.Max(0, position - w + 1) : 0; j <= position; j++) mask[row + j] = true;
            }
        }
        Write = cache.PlanWrite(write);
        WriteSlots = tensor(write, device: device);
        ReadSlots = tensor(read, [batch, KeyLength], device: device);
        Mask = tensor(mask, [batch, 1, queryLength, KeyLength], device: device);
        Positions = tensor(positions, [batch, queryLength], device: device);
    }

    private KernelBlockTable? _kernelTable;

    /// <summary>What the attention kernel reads, built on first use and kept for all layers.</summary>
    public KernelStepInputs KernelInputs(KvCache cache)
    {
        _kernelTable ??= KernelBlockTable.For(cache, this);
        return new KernelStepInputs(Write, WriteSlots, ReadSlots, _kernelTable.Blocks, _kernelTable.Lengths, _kernelTable.HotBlocks);
    }

    /// <summary>Called after the forward: the new tokens are now part of each sequence's cache.</summary>
    public void CommitLengths()
    {
        foreach (var seq in Sequences) seq.Length += QueryLength;
    }

    public void Dispose()
    {
        Write.Dispose(); WriteSlots.Dispose(); ReadSlots.Dispose(); Mask.Dispose(); Positions.Dispose(); _groupedMask?.Dispose(); _kernelTable?.Dispose();
    }
}
