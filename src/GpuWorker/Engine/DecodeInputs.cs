using System.Runtime.InteropServices;
using AlisaCluster.GpuWorker.Kv;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Engine;

/// <summary>The decode step's inputs as device tensors that never move (what a CUDA graph reads), refreshed each step
/// from one pinned host buffer by one asynchronous copy. One int64 buffer, five regions for the largest batch:
/// tokens, positions, write slots, lengths (keys to attend, the new token included), block tables [rows, M].
/// A batch of size n uses the first n entries of each region (a bucket; rows past the batch are padding that
/// reads and writes the scratch block 0). Block-table rows are written incrementally: a row is rewritten only when
/// its sequence changes, and only its new blocks otherwise, so the host work does not grow with sequence length.</summary>
public sealed class DecodeInputs : IDisposable
{
    /// <summary>A bucket's views of the device buffer.</summary>
    public sealed record Bucket(int Size, Tensor Tokens, Tensor Positions, WritePlan Write, Tensor Lengths, Tensor BlockTable) : IDisposable
    {
        public void Dispose() { Tokens.Dispose(); Positions.Dispose(); Write.Dispose(); Lengths.Dispose(); BlockTable.Dispose(); }
    }

    private readonly int _rows, _maxBlocks;
    private readonly Tensor _host, _device;
    private readonly (SequenceKv? Sequence, int Generation, int Blocks)[] _tableRows;

    public DecodeInputs(int maxBatch, int maxBlocks, Device device)
    {
        _rows = maxBatch;
        _maxBlocks = maxBlocks;
        long total = 4L * maxBatch + (long)maxBatch * maxBlocks;
        using var host = zeros(total, ScalarType.Int64);
        // page-locked for a CUDA device, so the per-step copy is one asynchronous DMA transfer
        _host = device.type == TorchSharp.DeviceType.CUDA ? host.pin_memory() : host.clone();
        _device = zeros(total, ScalarType.Int64, device);
        _tableRows = new (SequenceKv?, int, int)[maxBatch];
    }

    public Bucket View(int size) => new(size,
        _device.narrow(0, 0, size).view(size, 1),
        _device.narrow(0, _rows, size).view(size, 1),
        new WritePlan { Slots = _device.narrow(0, 2L * _rows, size) },
        _device.narrow(0, 3L * _rows, size),
        _device.narrow(0, 4L * _rows, (long)size * _maxBlocks).view(size, _maxBlocks));

    /// <summary>Writes the step's inputs for <paramref name="sequences"/> (each feeding its token at position Length; KV
    /// room reserved) padded to <paramref name="bucket"/> rows, and starts the copy to the device. The previous copy
    /// has finished: every step ends by downloading its sampled tokens, which waits for it.</summary>
    public void Stage(IReadOnlyList<SequenceKv> sequences, IReadOnlyList<int> tokens, int bucket)
    {
        var host = MemoryMarshal.Cast<byte, long>(_host.bytes);
        for (int row = 0; row < bucket; row++)
        {
            var sequence = row < sequences.Count ? sequences[row] : null;
            int position = sequence?.Length ?? 0;
            if (sequence is not null && sequence.Capacity <= position)
                throw new InvalidOperationException($"sequence KV holds {sequence.Capacity} slots, needs {position + 1}");
            host[row] = sequence is null ? 0 : tokens[row];
            host[_rows + row] = position;
            host[2 * _rows + row] = sequence?.SlotOf(position) ?? 0;
            host[3 * _rows + row] = position + 1;
            StageTableRow(host.Slice(4 * _rows + row * _maxBlocks, _maxBlocks), row, sequence);
        }
        long used = 4L * _rows + (long)bucket * _maxBlocks;
        using var source = _host.narrow(0, 0, used);
        using var target = _device.narrow(0, 0, used);
        target.copy_(source, true);
    }

    private void StageTableRow(Span<long> row, int index, SequenceKv? sequence)
    {
        var (owner, generation, written) = _tableRows[index];
        if (sequence is null)
        {
            if (owner is not null) row[0] = 0; // padding reads position 0 of the scratch block
            _tableRows[index] = (null, 0, 0);
            return;
        }
        if (sequence.Blocks.Count > _maxBlocks) throw new InvalidOperationException($"a sequence holds {sequence.Blocks.Count} blocks, the decode inputs {_maxBlocks}");
        if (!ReferenceEquals(owner, sequence) || generation != sequence.Generation) written = 0;
        for (int i = written; i < sequence.Blocks.Count; i++) row[i] = sequence.Blocks[i];
        _tableRows[index] = (sequence, sequence.Generation, sequence.Blocks.Count);
    }

    public void Dispose() { _host.Dispose(); _device.Dispose(); }
}
