namespace AlisaCluster.GpuWorker.Kv;

/// <summary>ALISA's token-level tiers: leading (oldest) blocks move GPU -> CPU (phase II) and CPU -> deleted
/// (phase III); deleted ones are rebuilt each step they may be attended, by a prefill of the prefix.</summary>
public sealed partial class KvCache
{
    /// <summary>Copies to the CPU tier still in flight (see <see cref="MoveDown"/>).</summary>
    private PendingMoves? _pending;

    private sealed record PendingMoves(BlockMove Move, Native.SideStreamWork? Copy, List<(SequenceKv Sequence, int Index, int CpuBlock)> Blocks);

    /// <summary>Whether MoveDown's copies stay in flight until the next MoveDown (on CUDA with the native library they
    /// run on a side stream, overlapping the decode step); otherwise they complete within the call.</summary>
    internal bool DefersMoves { get; set; }

    /// <summary>Moves each sequence's leading whole blocks down to the target tiers (never back up): the first
    /// <c>Offloaded</c> blocks off the GPU, of which the first <c>Dropped</c> deleted. Blocks stay on the GPU where the
    /// CPU tier is full. One copy per layer for all blocks that move. With <see cref="DefersMoves"/> the moved blocks
    /// are read from the GPU, and hold their GPU blocks, until the copies are committed: by the next MoveDown, or
    /// earlier when the GPU pool runs short or a sequence is released.</summary>
    public void MoveDown(IEnumerable<(SequenceKv Sequence, int Offloaded, int Dropped)> targets)
    {
        if (!IsTiered) throw new InvalidOperationException("this KV cache has no CPU or recompute tier");
        CommitMoves();
        var fromGpu = new List<long>();
        var toCpu = new List<long>();
        var freedGpu = new List<int>();
        var moved = new List<(SequenceKv, int, int)>();
        foreach (var (sequence, offloaded, dropped) in targets)
        {
            int whole = sequence.Length / BlockSize; // the block being filled stays where writes go
            int offloadTo = Math.Min(offloaded, whole), dropTo = Math.Min(dropped, offloadTo);
            for (int i = sequence.DroppedBlocks; i < dropTo; i++)
            {
                int logical = sequence.Blocks[i];
                if (i < sequence.OffloadedBlocks) _cpuBlocks!.Free([_cpuOf[logical]]);
                else freedGpu.Add(_gpuOf[logical]);
            }
            int next = Math.Max(sequence.OffloadedBlocks, dropTo);
            for (; next < offloadTo && _cpuBlocks is not null && _cpuBlocks.TryAllocateOne(out int cpuBlock); next++)
            {
                fromGpu.Add(_gpuOf[sequence.Blocks[next]]);
                toCpu.Add(cpuBlock);
                moved.Add((sequence, next, cpuBlock));
            }
            sequence.DroppedBlocks = Math.Max(sequence.DroppedBlocks, dropTo);
            sequence.OffloadedBlocks = Math.Max(sequence.OffloadedBlocks, dropTo); // the moved ones count once committed
        }
        _gpuBlocks.Free(freedGpu);
        if (fromGpu.Count == 0) return;
        var move = new BlockMove([.. fromGpu], [.. toCpu], BlockSize);
        void Copy()
        {
            for (int layer = 0; layer < _gpu.Length; layer++) _gpu[layer].CopyBlocksTo(_cpu[layer], move);
        }
        Native.SideStreamWork? copy = null;
        if (DefersMoves && _device.type == TorchSharp.DeviceType.CUDA)
        {
            move.BlockIds(_device); // uploaded on this stream, before the side stream starts
            copy = Native.SideStreamWork.Issue(Copy);
        }
        else Copy();
        BytesOffloaded += move.Count * BlockSize * BytesPerToken;
        _pending = new PendingMoves(move, copy, moved);
        if (!DefersMoves) CommitMoves();
    }

    /// <summary>Makes the current stream wait for the copies in flight, then points their blocks at the CPU tier and
    /// frees their GPU blocks.</summary>
    private void CommitMoves()
    {
        if (_pending is not { } pending) return;
        _pending = null;
        pending.Copy?.Await();
        var freedGpu = new List<int>();
        foreach (var (sequence, index, cpuBlock) in pending.Blocks)
        {
            int logical = sequence.Blocks[index];
            freedGpu.Add(_gpuOf[logical]);
            _cpuOf[logical] = cpuBlock;
            _locations![logical] = _gpuSlots + (long)cpuBlock * BlockSize;
            sequence.OffloadedBlocks = Math.Max(sequence.OffloadedBlocks, index + 1);
        }
        _gpuBlocks.Free(freedGpu);
        pending.Copy?.Dispose();
        pending.Move.Dispose();
    }

    /// <summary>Points the dropped blocks of the batch's phase-III sequences at this step's recompute rows (sequence r's
    /// position p at row r * M + p); returns those sequences and M, or null when none has dropped blocks.</summary>
    public (IReadOnlyList<SequenceKv> Sequences, int PrefixLength)? BeginRecompute(IReadOnlyList<SequenceKv> batch)
    {
        var sequences = batch.Where(s => s.DroppedBlocks > 0).ToList();
        if (sequences.Count == 0) return null;
        int prefix = sequences.Max(s => s.DroppedBlocks) * BlockSize;
        long recomputeBase = _gpuSlots + _cpuSlots;
        for (int r = 0; r < sequences.Count; r++)
        {
            for (int i = 0; i < sequences[r].DroppedBlocks; i++)
                _locations![sequences[r].Blocks[i]] = recomputeBase + (long)r * prefix + (long)i * BlockSize;
            TokensRecomputed += sequences[r].DroppedBlocks * BlockSize;
        }
        return (sequences, prefix);
    }

    /// <summary>Layer <paramref name="layer"/>'s recomputed K/V rows [R * M, kv heads, head dim] (the cache takes them; under
    /// INT8 they are rounded the way storage rounds, so recomputed tokens read exactly as stored ones).</summary>
    public void SetRecomputed(int layer, TorchSharp.torch.Tensor keys, TorchSharp.torch.Tensor values)
    {
        if (Format == KvStorageFormat.Int8)
        {
            using (keys) using (values)
                _reader!.SetRecomputed(layer, Int8KvLayerStore.RoundTrip(keys).DetachFromDisposeScope(),
                    Int8KvLayerStore.RoundTrip(values).DetachFromDisposeScope());
        }
        else _reader!.SetRecomputed(layer, keys, values);
    }

    public void EndRecompute() => _reader?.ClearRecomputed();
}
