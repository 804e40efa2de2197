using AlisaCluster.GpuWorker.Attention;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Evaluation;

/// <summary>Dense causal attention for whole sequences fed in one forward (no KV cache), computed explicitly in fp32
/// so that each layer's full attention weights can be observed: fused kernels do not return them.</summary>
/// <param name="observe">gets the layer, weights [B, KvH, G, T, T] (G query heads per KV head) and values [B, KvH, T, D]</param>
public sealed class AttentionProbe(Action<int, Tensor, Tensor> observe) : IAttention
{
    public Tensor Forward(int layer, Tensor query, Tensor key, Tensor value)
    {
        using var scope = NewDisposeScope();
        long b = query.shape[0], heads = query.shape[1], t = query.shape[2], d = query.shape[3], kvHeads = key.shape[1];
        var q = query.to(ScalarType.Float32).reshape(b, kvHeads, heads / kvHeads, t, d);   // GQA: query heads grouped by KV head
        var k = key.to(ScalarType.Float32).unsqueeze(2);
        var v = value.to(ScalarType.Float32);
        var future = ones(t, t, ScalarType.Bool, query.device).triu(1);
        var weights = (q.matmul(k.transpose(-1, -2)) / Scalars.Of(Math.Sqrt(d))).masked_fill(future, Scalars.NegativeInfinity).softmax(-1);
        observe(layer, weights, v);
        var output = weights.matmul(v.unsqueeze(2)).reshape(b, heads, t, d).to(query.dtype);
        return output.transpose(1, 2).reshape(b, t, heads * d).MoveToOuterDisposeScope();
    }
}
