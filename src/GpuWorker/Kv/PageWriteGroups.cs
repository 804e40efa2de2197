using TorchSharp;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Kv;

/// <summary>Where one forward's rows fall, for the per-page statistics (<see cref="PageKeyBounds"/>,
/// <see cref="PageSummaries"/>): the distinct blocks written [m], each row's place [n] in an [m x block size] staging
/// buffer (its block's index among them x block size + its offset; slots are distinct, so are places), and which of
/// the m blocks start in this write (their old statistics belong to a previous owner).</summary>
public sealed record PageWriteGroups(Tensor Blocks, Tensor RowPlaces, Tensor Fresh, int BlockSize) : IDisposable
{
    /// <summary>Groups pool slots by block on the host (once per forward, for all layers).</summary>
    public static PageWriteGroups Plan(long[] slots, int blockSize, Device device)
    {
        var blocks = new List<long>();
        var fresh = new List<bool>();
        var indexOf = new Dictionary<long, int>();
        var rowPlaces = new long[slots.Length];
        for (int row = 0; row < slots.Length; row++)
        {
            long block = slots[row] / blockSize;
            if (!indexOf.TryGetValue(block, out int index))
            {
                indexOf[block] = index = blocks.Count;
                blocks.Add(block);
                fresh.Add(false);
            }
            rowPlaces[row] = (long)index * blockSize + slots[row] % blockSize;
            if (slots[row] % blockSize == 0) fresh[index] = true;
        }
        return new PageWriteGroups(tensor(blocks.ToArray(), device: device), tensor(rowPlaces, device: device), tensor(fresh.ToArray(), device: device), blockSize);
    }

    /// <summary>The new rows [n, KvH, D] laid out per block [m, block size, KvH, D], empty places <paramref name="empty"/>
    /// (neutral for the reduction over the block that follows).</summary>
    public Tensor Staged(Tensor rows, Scalar empty)
    {
        long blocks = Blocks.shape[0], kvHeads = rows.shape[1], d = rows.shape[2];
        return full([blocks * BlockSize, kvHeads, d], empty, rows.dtype, rows.device).index_copy_(0, RowPlaces, rows)
            .view(blocks, BlockSize, kvHeads, d);
    }

    /// <summary>The written blocks' statistics [m, KvH, D] from <paramref name="stats"/> [blocks, KvH, D] to fold into,
    /// <paramref name="empty"/> for blocks that start afresh.</summary>
    public Tensor Start(Tensor stats, Scalar empty) => stats.index_select(0, Blocks).masked_fill(Fresh.view(-1, 1, 1), empty);

    public void Dispose() { Blocks.Dispose(); RowPlaces.Dispose(); Fresh.Dispose(); }
}
