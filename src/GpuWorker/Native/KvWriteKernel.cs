using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Native;

/// <summary>The native kv_write kernel (native/src/kv_write.cu): stores new K/V rows [B, KvH, T, D] (any strides, e.g.
/// head views of the fused QKV projection) into pools [slots, KvH, D] at slots [B*T], in one launch. Its reference is
/// the pool's own write (permute, reshape, index_copy_), which native-check compares it with.</summary>
public static class KvWriteKernel
{
    public static void Run(Tensor keyPool, Tensor valuePool, Tensor key, Tensor value, Tensor slots) =>
        AlisaNative.Check(AlisaNative.alisa_kv_write(keyPool.Handle, valuePool.Handle, key.Handle, value.Handle, slots.Handle), "kv_write");
}
