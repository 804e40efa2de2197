using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Native;

/// <summary>The CPU reference of <see cref="PagedDecodeAttentionKernel"/>: the same arguments, computed with plain loops
/// in float64. Entry i of (sequence b, selection group sg) is position i below sinks, then the listed positions, then
/// the recent range; position p lives at block table[b, p / block size] (>= gpuBlocks: the CPU tier's block
/// entry - gpuBlocks), offset p % block size; query head h reads KV head h / (H / KvH); INT8 rows read code * scale + min.</summary>
public static class PagedDecodeAttentionReference
{
    public sealed record Result(Tensor Output, Tensor Logits, Tensor Lse);

    private sealed class Tier(KvPoolTensors pool)
    {
        private static double[] Doubles(Tensor t) => t.to(ScalarType.Float64, CPU).contiguous().data<double>().ToArray();
        private readonly double[] _keys = Doubles(pool.Keys), _values = Doubles(pool.Values);
        private readonly double[]? _keyParams = pool.KeyParams is { } k ? Doubles(k) : null, _valueParams = pool.ValueParams is { } v ? Doubles(v) : null;
        public readonly long D = pool.Keys.shape[2];

        /// <summary>Element i of the K or V row (slot * KvH + head).</summary>
        public double At(bool value, long row, long i)
        {
            var (data, parameters) = value ? (_values, _valueParams) : (_keys, _keyParams);
            double x = data[row * D + i];
            return parameters is null ? x : x * parameters[row * 2] + parameters[row * 2 + 1];
        }
    }

    /// <summary>Positions each (sequence, KV head) attends, in the kernel's entry order.</summary>
    public static long[][][] Entries(Tensor lengths, int kvHeads, AttentionSelection? selection)
    {
        var length = lengths.to(CPU).data<long>().ToArray();
        int[]? segments = selection?.Segments.to(CPU).contiguous().data<int>().ToArray();
        int[]? listed = selection?.Positions.to(CPU).contiguous().data<int>().ToArray();
        long groups = selection?.Segments.shape[1] ?? 1, maxListed = selection?.Positions.shape[2] ?? 0;
        return length.Select((n, b) => Enumerable.Range(0, kvHeads).Select(h =>
        {
            if (segments is null) return Enumerable.Range(0, (int)n).Select(p => (long)p).ToArray();
            long g = b * groups + (groups > 1 ? h : 0);
            int sinks = segments[g * 3], count = segments[g * 3 + 1], recent = segments[g * 3 + 2];
            return Enumerable.Range(0, sinks).Select(p => (long)p)
                .Concat(Enumerable.Range(0, count).Select(i => (long)listed![g * maxListed + i]))
                .Concat(Enumerable.Range(recent, (int)Math.Max(0, n - recent)).Select(p => (long)p)).ToArray();
        }).ToArray()).ToArray();
    }

    public static Result Run(Tensor query, KvPoolTensors gpu, Tensor blockTable, Tensor lengths, int blockSize, float scale,
        KvPoolTensors? cpu = null, long gpuBlocks = 0, AttentionSelection? selection = null)
    {
        long batch = blockTable.shape[0], maxBlocks = blockTable.shape[1];
        int kvHeads = (int)gpu.Keys.shape[1];
        long d = gpu.Keys.shape[2], heads = query.numel() / (batch * d), groups = heads / kvHeads;
        if (gpuBlocks == 0) gpuBlocks = gpu.Keys.shape[0] / blockSize;
        var (gpuTier, cpuTier) = (new Tier(gpu), cpu is null ? null : new Tier(cpu));
        var q = query.to(ScalarType.Float64, CPU).contiguous().data<double>().ToArray();
        var table = blockTable.to(CPU).data<long>().ToArray();
        var entries = Entries(lengths, kvHeads, selection);
        int stride = entries.SelectMany(e => e).Max(e => e.Length);
        var output = new float[batch * heads * d];
        var logits = new float[batch * heads * stride];
        var lse = new float[batch * heads];
        for (long b = 0; b < batch; b++)
            for (long h = 0; h < heads; h++)
            {
                long kvHead = h / groups;
                var positions = entries[b][kvHead];
                var rows = positions.Select(p =>
                {
                    long block = table[b * maxBlocks + p / blockSize], offset = p % blockSize;
                    return block < gpuBlocks ? (gpuTier, ((block * blockSize + offset) * kvHeads) + kvHead)
                        : (cpuTier!, (((block - gpuBlocks) * blockSize + offset) * kvHeads) + kvHead);
                }).ToArray();
                var scores = rows.Select(r =>
                {
                    double dot = 0;
                    for (long i = 0; i < d; i++) dot += q[(b * heads + h) * d + i] * r.Item1.At(false, r.Item2, i);
                    return dot * scale;
                }).ToArray();
                double max = scores.Max(), total = scores.Sum(s => Math.Exp(s - max));
                for (int e = 0; e < scores.Length; e++) logits[(b * heads + h) * stride + e] = (float)scores[e];
                lse[b * heads + h] = (float)(max + Math.Log(total));
                for (long i = 0; i < d; i++)
                {
                    double sum = 0;
                    for (int e = 0; e < rows.Length; e++) sum += Math.Exp(scores[e] - max) * rows[e].Item1.At(true, rows[e].Item2, i);
                    output[(b * heads + h) * d + i] = (float)(sum / total);
                }
            }
        return new Result(tensor(output, [batch, heads, d]), tensor(logits, [batch, heads, stride]), tensor(lse, [batch, heads]));
    }

    /// <summary>The reference of <see cref="PagedDecodeAttentionKernel.Weights"/>: per (sequence, KV head, entry) the
    /// softmax weight summed over the query group, and the entry's position; [B, KvH, n] each.</summary>
    public static (Tensor Weights, Tensor Positions) Weights(Result attention, Tensor lengths, int kvHeads, AttentionSelection? selection)
    {
        long batch = attention.Lse.shape[0], heads = attention.Lse.shape[1], stride = attention.Logits.shape[2], groups = heads / kvHeads;
        var logits = attention.Logits.data<float>().ToArray();
        var lse = attention.Lse.data<float>().ToArray();
        var entries = Entries(lengths, kvHeads, selection);
        var weights = new float[batch * kvHeads * stride];
        var positions = new long[batch * kvHeads * stride];
        for (long b = 0; b < batch; b++)
            for (long k = 0; k < kvHeads; k++)
                for (int e = 0; e < entries[b][k].Length; e++)
                {
                    double w = 0;
                    for (long g = 0; g < groups; g++)
                    {
                        long head = b * heads + k * groups + g;
                        w += Math.Exp(logits[head * stride + e] - lse[head]);
                    }
                    weights[(b * kvHeads + k) * stride + e] = (float)w;
                    positions[(b * kvHeads + k) * stride + e] = entries[b][k][e];
                }
        return (tensor(weights, [batch, kvHeads, stride]), tensor(positions, [batch, kvHeads, stride]));
    }
}
