using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Native;

/// <summary>The native kv_write kernels (native/src/kv_write.cu, kv_write_int8.cu): store new K/V rows [B, KvH, T, D]
/// (any strides, e.g. head views of the fused QKV projection) at slots [B*T] in one launch, into pools [slots, KvH, D]
/// of the model's dtype, or quantised per (token, KV head) into INT8 codes and (scale, min) parameters. Their
/// references are the pools' own TorchSharp writes, which native-check compares them with.</summary>
public static class KvWriteKernel
{
    public static void Run(Tensor keyPool, Tensor valuePool, Tensor key, Tensor value, Tensor slots) =>
        AlisaNative.Check(AlisaNative.alisa_kv_write(keyPool.Handle, valuePool.Handle, key.Handle, value.Handle, slots.Handle), "kv_write");

    public static void RunInt8(KvPoolTensors pool, Tensor key, Tensor value, Tensor slots) =>
        AlisaNative.Check(AlisaNative.alisa_kv_write_int8(pool.Keys.Handle, pool.Values.Handle, pool.KeyParams!.Handle, pool.ValueParams!.Handle,
            key.Handle, value.Handle, slots.Handle), "kv_write_int8");
}
