using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Kv;

/// <summary>Sorts one forward's new rows for INT8 storage. Sequences fill their blocks in order, so per block:
/// a fresh block written whole is quantized straight from the input; any other rows go to the block's residual
/// (allocated when the block starts), and the block is quantized from there when its last slot is written.</summary>
internal static class Int8WritePlanner
{
    public static WritePlan Plan(long[] slots, int blockSize, ResidualBlocks residual, Device device)
    {
        var rowsByBlock = new SortedDictionary<int, List<(int Offset, int Row)>>();
        for (int row = 0; row < slots.Length; row++)
        {
            int block = (int)(slots[row] / blockSize);
            if (block == 0) continue; // scratch block of padded positions
            if (!rowsByBlock.TryGetValue(block, out var rows)) rowsByBlock[block] = rows = new();
            rows.Add(((int)(slots[row] % blockSize), row));
        }
        var direct = new List<(int Block, List<(int Offset, int Row)> Rows)>();
        var completed = new List<(int Block, int Residual)>();
        var sources = new List<long>();
        var targets = new List<long>();
        foreach (var (block, rows) in rowsByBlock)
        {
            rows.Sort();
            bool known = residual.TryGet(block, out int index);
            if (!known && rows.Count == blockSize) { direct.Add((block, rows)); continue; }
            if (!known)
            {
                if (rows[0].Offset != 0) throw new InvalidOperationException($"INT8 KV: block {block} is already quantized and cannot take more rows");
                index = residual.Allocate(block);
            }
            foreach (var (offset, row) in rows) { sources.Add(row); targets.Add((long)index * blockSize + offset); }
            if (rows[^1].Offset == blockSize - 1) completed.Add((block, index));
        }
        return new WritePlan
        {
            Slots = tensor(slots, device: device),
            ResidualSources = sources.Count > 0 ? tensor(sources.ToArray(), device: device) : null,
            ResidualTargets = targets.Count > 0 ? tensor(targets.ToArray(), device: device) : null,
            Direct = direct.Count == 0 ? null : Group(direct.Select(d => d.Block), direct.SelectMany(d => d.Rows.Select(r => (long)r.Row)), blockSize, device),
            FromResidual = completed.Count == 0 ? null : Group(completed.Select(c => c.Block),
                completed.SelectMany(c => Enumerable.Range(0, blockSize).Select(o => (long)c.Residual * blockSize + o)), blockSize, device),
            CompletedBlocks = completed.Select(c => c.Block).ToList(),
        };
    }

    private static WritePlan.QuantizeGroup Group(IEnumerable<int> blocks, IEnumerable<long> sourceRows, int blockSize, Device device)
    {
        var ids = blocks.Select(b => (long)b).ToArray();
        var blockSlots = ids.SelectMany(b => Enumerable.Range(0, blockSize).Select(o => b * blockSize + o)).ToArray();
        return new WritePlan.QuantizeGroup(tensor(ids, device: device), tensor(sourceRows.ToArray(), device: device), tensor(blockSlots, device: device));
    }
}
