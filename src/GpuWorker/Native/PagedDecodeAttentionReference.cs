using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Native;

/// <summary>The CPU reference of <see cref="PagedDecodeAttentionKernel"/>: the same arguments, computed with plain
/// loops in float64 (slot of position p = table[b, p / block size] * block size + p % block size; query head h reads
/// KV head h / (H / KvH)). Returns float32 [B, H, D].</summary>
public static class PagedDecodeAttentionReference
{
    public static Tensor Run(Tensor query, Tensor keyPool, Tensor valuePool, Tensor blockTable, Tensor lengths, int blockSize, float scale)
    {
        long batch = blockTable.shape[0], maxBlocks = blockTable.shape[1];
        long kvHeads = keyPool.shape[1], d = keyPool.shape[2], heads = query.numel() / (batch * d), groups = heads / kvHeads;
        float[] Floats(Tensor t) => t.to(ScalarType.Float32, CPU).contiguous().data<float>().ToArray();
        var q = Floats(query);
        var k = Floats(keyPool);
        var v = Floats(valuePool);
        var table = blockTable.to(CPU).data<long>().ToArray();
        var length = lengths.to(CPU).data<long>().ToArray();
        var output = new float[batch * heads * d];
        for (long b = 0; b < batch; b++)
            for (long h = 0; h < heads; h++)
            {
                long kvHead = h / groups, n = length[b];
                var scores = new double[n];
                var rows = new long[n];
                for (long p = 0; p < n; p++)
                {
                    rows[p] = ((table[b * maxBlocks + p / blockSize] * blockSize + p % blockSize) * kvHeads + kvHead) * d;
                    double dot = 0;
                    for (long i = 0; i < d; i++) dot += q[(b * heads + h) * d + i] * (double)k[rows[p] + i];
                    scores[p] = dot * scale;
                }
                double max = scores.Max(), total = scores.Sum(s => Math.Exp(s - max));
                for (long i = 0; i < d; i++)
                {
                    double sum = 0;
                    for (long p = 0; p < n; p++) sum += Math.Exp(scores[p] - max) * v[rows[p] + i];
                    output[(b * heads + h) * d + i] = (float)(sum / total);
                }
            }
        return tensor(output, [batch, heads, d]);
    }
}
