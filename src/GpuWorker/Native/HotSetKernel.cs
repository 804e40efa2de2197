using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Native;

/// <summary>The GPU hot set's update (native/src/hot_set.cu): before a layer's attention, each sequence's listed rows
/// that its hot slots already hold stay, the newly listed ones are copied into the freed slots (from the CPU tier
/// over PCIe, or from GPU blocks), and the selection is rewritten in hot-slot order for the attention kernel, which
/// then reads listed entries from the hot slots (<see cref="AttentionSelection.HotTable"/>).
/// <see cref="HotSetReference"/> gives the same slot assignment on the host.</summary>
public static class HotSetKernel
{
    /// <param name="hotPositions">[S, KvH] int32 of this layer: the position each GPU pool row holds as a hot row (-1: none)</param>
    /// <param name="hotTable">[B, MH] int64: each sequence's hot blocks (GPU pool blocks), then -1</param>
    /// <param name="counters">[4] int64, accumulated: entries, rows copied from GPU blocks, from the CPU tier, bytes read from it</param>
    public static AttentionSelection Update(AttentionSelection selection, Tensor hotPositions, Tensor hotTable, Tensor counters,
        KvPoolTensors gpu, KvPoolTensors? cpu, long gpuBlocks, Tensor blockTable, Tensor lengths, int blockSize)
    {
        static IntPtr H(Tensor? t) => t?.Handle ?? IntPtr.Zero;
        long b = selection.Segments.shape[0], groups = selection.Segments.shape[1];
        var segments = empty_like(selection.Segments);
        var listed = empty([b, groups, hotTable.shape[1] * blockSize], ScalarType.Int32, hotTable.device);
        AlisaNative.Check(AlisaNative.alisa_hot_set_update(segments.Handle, listed.Handle, counters.Handle, hotPositions.Handle, hotTable.Handle,
            gpu.Keys.Handle, gpu.Values.Handle, H(gpu.KeyParams), H(gpu.ValueParams), H(cpu?.Keys), H(cpu?.Values), H(cpu?.KeyParams),
            H(cpu?.ValueParams), gpuBlocks, blockTable.Handle, lengths.Handle, selection.Segments.Handle, selection.Positions.Handle, blockSize),
            "hot set update");
        return new AttentionSelection(segments, listed, hotTable);
    }
}
