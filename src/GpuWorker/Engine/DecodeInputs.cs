using System.Runtime.InteropServices;
using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Kv;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Engine;

/// <summary>The decode step's inputs as device tensors that never move (what a CUDA graph reads), refreshed each step
/// from one pinned host buffer by one asynchronous copy. One int64 buffer, regions for the largest batch: tokens,
/// positions, write slots in the GPU pool and as logical slots (scores are indexed by them; they differ under a CPU
/// tier), lengths (keys to attend, the new token included), and for sparse policies the selection segments [rows, 3]
/// (sinks, global budget, recent start), the ring column of the step and the one leaving the score window (-1: none),
/// and per row the row of the previous step's picks whose token it feeds (-1: the token staged here; async scheduling);
/// then two block tables [rows, M]: logical blocks, and where the kernel reads them (GPU block, or the GPU pool's block
/// count + CPU block; rewritten when a sequence's blocks move to the CPU); with a hot set, each row's hot blocks [rows, MH]
/// (then -1).
/// A batch of size n uses the first n entries of each region (a bucket; rows past the batch are padding that
/// reads and writes the scratch block 0). Block-table rows are written incrementally: a row is rewritten only when
/// its sequence changes, and only its new blocks otherwise, so the host work does not grow with sequence length.</summary>
public sealed class DecodeInputs : IDisposable
{
    /// <summary>A bucket's views of the device buffer.</summary>
    public sealed record Bucket(int Size, Tensor Tokens, Tensor Positions, WritePlan Write, Tensor ScoreWriteSlots, Tensor Lengths,
        Tensor Segments, Tensor Column, Tensor Leaving, Tensor Fed, Tensor LogicalTable, Tensor BlockTable, Tensor? HotTable) : IDisposable
    {
        /// <summary>Replaces the tokens of the rows that feed a previous pick with it: <paramref name="previous"/> [B'] is
        /// that step's picked ids (int64, on the device). Runs on the device after the staging copy, before a replay.</summary>
        public void TakePicks(Tensor previous)
        {
            using var scope = NewDisposeScope();
            var fed = Fed.view(Size, 1);
            Tokens.copy_(where(fed.ge(Scalars.Of(0L)), previous.index_select(0, Fed.clamp_min(Scalars.Of(0L))).view(Size, 1), Tokens));
        }

        /// <summary>The logical slot [B, maxLength] of every position up to <paramref name="maxLength"/> (what sparse
        /// graphs index scores by; past a row's length: the scratch slot 0), derived on the device from the logical
        /// table so a graph can capture it.</summary>
        public Tensor LogicalSlots(long blockSize, int maxLength)
        {
            using var scope = NewDisposeScope();
            var positions = Scalars.Arange(maxLength, Lengths.device).view(1, -1);
            var blocks = LogicalTable.gather(1, positions.div(Scalars.Of(blockSize), RoundingMode.floor).expand(Size, -1));
            var slots = (blocks * Scalars.Of(blockSize)).add(positions.remainder(Scalars.Of(blockSize)), Scalars.One);
            return slots.masked_fill(positions >= Lengths.view(-1, 1), Scalars.Of(0L)).MoveToOuterDisposeScope();
        }

        public void Dispose()
        {
            foreach (var t in new[] { Tokens, Positions, ScoreWriteSlots, Lengths, Segments, Column, Leaving, Fed, LogicalTable, BlockTable, HotTable }) t?.Dispose();
            Write.Dispose();
        }
    }

    /// <summary>Regions before the block tables, in rows (segments take three).</summary>
    private const int Fixed = 11;

    private readonly KvCache _cache;
    private readonly int _rows, _maxBlocks, _maxHotBlocks;
    private readonly Tensor _host, _device;
    private readonly (SequenceKv? Sequence, int Generation, int Blocks, int Offloaded)[] _tableRows;
    private readonly Native.CudaEvent? _staged; // after the last staging copy: the host buffer is free again once it has passed

    /// <param name="maxHotBlocks">widest hot table a graph reads (0 without a hot set); see <see cref="MaxHotBlocks"/></param>
    public DecodeInputs(KvCache cache, int maxBatch, int maxBlocks, int maxHotBlocks, Device device)
    {
        _cache = cache;
        _rows = maxBatch;
        _maxBlocks = maxBlocks;
        _maxHotBlocks = maxHotBlocks;
        long total = (long)Fixed * maxBatch + 2L * maxBatch * maxBlocks + (long)maxBatch * maxHotBlocks;
        using var host = zeros(total, ScalarType.Int64);
        // page-locked for a CUDA device, so the per-step copy is one asynchronous DMA transfer
        _host = device.type == TorchSharp.DeviceType.CUDA ? host.pin_memory() : host.clone();
        _device = zeros(total, ScalarType.Int64, device);
        _tableRows = new (SequenceKv?, int, int, int)[maxBatch];
        if (device.type == TorchSharp.DeviceType.CUDA && Native.AlisaNative.IsAvailable)
            _staged = new Native.CudaEvent();
    }

    public Bucket View(int size) => new(size,
        _device.narrow(0, 0, size).view(size, 1),
        _device.narrow(0, _rows, size).view(size, 1),
        new WritePlan { Slots = _device.narrow(0, 2L * _rows, size) },
        _device.narrow(0, 9L * _rows, size),
        _device.narrow(0, 3L * _rows, size),
        _device.narrow(0, 4L * _rows, 3L * size).view(size, 3),
        _device.narrow(0, 7L * _rows, size).view(size, 1),
        _device.narrow(0, 8L * _rows, size).view(size, 1),
        _device.narrow(0, 10L * _rows, size),
        _device.narrow(0, (long)Fixed * _rows, (long)size * _maxBlocks).view(size, _maxBlocks),
        _device.narrow(0, (long)(Fixed + _maxBlocks) * _rows, (long)size * _maxBlocks).view(size, _maxBlocks),
        _maxHotBlocks == 0 ? null : _device.narrow(0, HotStart, (long)size * _maxHotBlocks).view(size, _maxHotBlocks));

    /// <summary>Widest hot table the graphs read: sequences with more hot blocks run on the eager step.</summary>
    public int MaxHotBlocks => _maxHotBlocks;

    private long HotStart => (long)(Fixed + 2 * _maxBlocks) * _rows;

    /// <summary>Writes the step's inputs for <paramref name="sequences"/> (each feeding its token at position Length; KV
    /// room reserved) padded to <paramref name="bucket"/> rows, and starts the copy to the device. Under async scheduling
    /// the previous step's copy may not have run yet when this one is staged: the host waits for it first (it is
    /// queued right behind the step before, so this rarely waits at all).</summary>
    /// <param name="sparse">the rows' selection inputs for a sparse graph (see <see cref="SparseRows"/>), or null</param>
    /// <param name="fedRows">per row, the previous pick it feeds (see <see cref="Bucket.TakePicks"/>), or null: none</param>
    public void Stage(IReadOnlyList<SequenceKv> sequences, IReadOnlyList<int> tokens, int bucket, SparseRows? sparse = null,
        IReadOnlyList<int>? fedRows = null)
    {
        _staged?.Synchronize();
        var host = MemoryMarshal.Cast<byte, long>(_host.bytes);
        for (int row = 0; row < bucket; row++)
        {
            var sequence = row < sequences.Count ? sequences[row] : null;
            int position = sequence?.Length ?? 0;
            if (sequence is not null && sequence.Capacity <= position)
                throw new InvalidOperationException($"sequence KV holds {sequence.Capacity} slots, needs {position + 1}");
            host[row] = sequence is null ? 0 : tokens[row];
            host[_rows + row] = position;
            long slot = sequence?.SlotOf(position) ?? 0;
            host[9 * _rows + row] = slot;
            host[2 * _rows + row] = sequence is null ? 0 : _cache.KernelBlockOf(sequence.Blocks[position / _cache.BlockSize])!.Value * _cache.BlockSize + position % _cache.BlockSize;
            host[3 * _rows + row] = position + 1;
            var (segment, column, leaving) = sequence is null || sparse is null ? ((0, 0, 0), 0, -1) : sparse[row];
            (host[4 * _rows + 3 * row], host[4 * _rows + 3 * row + 1], host[4 * _rows + 3 * row + 2]) = segment;
            (host[7 * _rows + row], host[8 * _rows + row]) = (column, leaving);
            host[10 * _rows + row] = sequence is null || fedRows is null ? -1 : fedRows[row];
            StageTableRow(host.Slice(Fixed * _rows + row * _maxBlocks, _maxBlocks), host.Slice((Fixed + _maxBlocks) * _rows + row * _maxBlocks, _maxBlocks),
                row, sequence);
            if (_maxHotBlocks > 0) StageHotRow(host.Slice((int)HotStart + row * _maxHotBlocks, _maxHotBlocks), sequence);
        }
        foreach (var (start, length) in new[] { (0L, (long)Fixed * _rows + (long)bucket * _maxBlocks), ((long)(Fixed + _maxBlocks) * _rows, (long)bucket * _maxBlocks),
                     (HotStart, (long)bucket * _maxHotBlocks) }.Where(range => range.Item2 > 0))
        {
            using var source = _host.narrow(0, start, length);
            using var target = _device.narrow(0, start, length);
            target.copy_(source, true);
        }
        _staged?.Record();
    }

    /// <summary>A sparse batch's per-row selection inputs: segments (sinks, global budget, recent start), the ring column
    /// of this step and the column leaving the score window (-1: none).</summary>
    public sealed record SparseRows((long, long, long)[] Segments, long[] Columns, long[] Leaving)
    {
        public ((long, long, long), long, long) this[int row] => (Segments[row], Columns[row], Leaving[row]);

        /// <summary>Plans the rows (one policy, inputs equal in every layer), or null when a row has more than one step
        /// leaving its score window (the eager step handles that); on success each ScoreFloor moves on.</summary>
        public static SparseRows? Plan(IReadOnlyList<SequenceKv> sequences, int ring)
        {
            var segments = new (long, long, long)[sequences.Count];
            var columns = new long[sequences.Count];
            var leaving = new long[sequences.Count];
            var steps = new List<int>[sequences.Count];
            for (int b = 0; b < sequences.Count; b++)
            {
                var budget = SelectionBudget.For(sequences[b].Policy, sequences[b].Length + 1);
                steps[b] = ring > 0 ? SparseStep.LeavingSteps(sequences[b], budget, ring) : [];
                if (steps[b].Count > 1) return null;
                int recentStart = budget.Length - budget.Recent;
                segments[b] = (Math.Min(budget.Sinks, recentStart), budget.Global, recentStart);
                columns[b] = ring > 0 ? (budget.Length - 1) % ring : 0;
                leaving[b] = steps[b].Count == 1 ? steps[b][0] % ring : -1;
            }
            for (int b = 0; b < sequences.Count; b++) sequences[b].ScoreFloor += steps[b].Count;
            return new SparseRows(segments, columns, leaving);
        }
    }

    /// <summary>A row's hot blocks, then -1 (padding rows have none: they list nothing).</summary>
    private void StageHotRow(Span<long> hot, SequenceKv? sequence)
    {
        int count = sequence?.HotBlocks.Count ?? 0;
        if (count > hot.Length) throw new InvalidOperationException($"a sequence holds {count} hot blocks, the decode inputs {hot.Length}");
        for (int i = 0; i < hot.Length; i++) hot[i] = i < count ? sequence!.HotBlocks[i] : -1;
    }

    private void StageTableRow(Span<long> logical, Span<long> kernel, int index, SequenceKv? sequence)
    {
        var (owner, generation, written, offloaded) = _tableRows[index];
        if (sequence is null)
        {
            if (owner is not null) logical[0] = kernel[0] = 0; // padding reads position 0 of the scratch block
            _tableRows[index] = (null, 0, 0, 0);
            return;
        }
        if (sequence.Blocks.Count > _maxBlocks) throw new InvalidOperationException($"a sequence holds {sequence.Blocks.Count} blocks, the decode inputs {_maxBlocks}");
        if (!ReferenceEquals(owner, sequence) || generation != sequence.Generation) written = 0;
        int from = offloaded != sequence.OffloadedBlocks ? 0 : written; // moved blocks are read from the CPU now
        for (int i = from; i < sequence.Blocks.Count; i++)
        {
            logical[i] = sequence.Blocks[i];
            kernel[i] = _cache.KernelBlockOf(sequence.Blocks[i]) ?? throw new InvalidOperationException("graphs do not read dropped (phase III) blocks");
        }
        _tableRows[index] = (sequence, sequence.Generation, sequence.Blocks.Count, sequence.OffloadedBlocks);
    }

    public void Dispose()
    {
        _staged?.Dispose();
        _host.Dispose();
        _device.Dispose();
    }
}
