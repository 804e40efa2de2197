using AlisaCluster.GpuWorker.Attention;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Model;

/// <summary>Llama family (RMSNorm, RoPE, SwiGLU, GQA). Q/K/V and gate/up projections are fused into one matmul each.</summary>
public sealed class LlamaModel : TransformerModel
{
    private sealed record LayerWeights(Tensor InputNorm, Tensor Qkv, Tensor Output, Tensor PostNorm, Tensor GateUp, Tensor Down);

    private readonly Tensor _embedding;
    private readonly LayerWeights[] _layers;
    private readonly Tensor _norm;
    private readonly Tensor _lmHead;
    private readonly RotaryEmbedding _rope;
    private readonly LayerKernels _kernels;

    public LlamaModel(ModelConfig c, WeightSource weights, Device device, ScalarType dtype) : base(c, device, dtype)
    {
        Tensor Load(string name, params long[] shape) => weights.Load(name, shape, dtype, device);
        long q = c.NumHeads * c.HeadDim, kv = c.NumKvHeads * c.HeadDim;
        _embedding = Load("model.embed_tokens.weight", c.VocabSize, c.HiddenSize);
        _layers = new LayerWeights[c.NumLayers];
        for (int i = 0; i < c.NumLayers; i++)
        {
            var p = $"model.layers.{i}.";
            _layers[i] = new LayerWeights(
                Load(p + "input_layernorm.weight", c.HiddenSize),
                Fuse(Load(p + "self_attn.q_proj.weight", q, c.HiddenSize), Load(p + "self_attn.k_proj.weight", kv, c.HiddenSize),
                     Load(p + "self_attn.v_proj.weight", kv, c.HiddenSize)),
                Load(p + "self_attn.o_proj.weight", c.HiddenSize, q),
                Load(p + "post_attention_layernorm.weight", c.HiddenSize),
                Fuse(Load(p + "mlp.gate_proj.weight", c.IntermediateSize, c.HiddenSize),
                     Load(p + "mlp.up_proj.weight", c.IntermediateSize, c.HiddenSize)),
                Load(p + "mlp.down_proj.weight", c.HiddenSize, c.IntermediateSize));
        }
        _norm = Load("model.norm.weight", c.HiddenSize);
        _lmHead = c.TieWordEmbeddings || !weights.Contains("lm_head.weight") ? _embedding : Load("lm_head.weight", c.VocabSize, c.HiddenSize);
        _rope = new RotaryEmbedding(c.HeadDim, c.MaxPositions, c.RopeTheta, device, dtype, c.CheckpointDType);
        _kernels = LayerKernels.For(device);
    }

    public override long ParameterBytes => Bytes(_layers.SelectMany(l => new[] { l.InputNorm, l.Qkv, l.Output, l.PostNorm, l.GateUp, l.Down })
        .Append(_embedding).Append(_norm).Concat(ReferenceEquals(_lmHead, _embedding) ? [] : new[] { _lmHead }));

    private static Tensor Fuse(params Tensor[] parts)
    {
        var fused = cat(parts, 0);
        foreach (var part in parts) part.Dispose();
        return fused;
    }

    protected override Tensor Embed(Tensor tokens, Tensor positions) =>
        _embedding.index_select(0, tokens.reshape(-1)).view(tokens.shape[0], tokens.shape[1], -1);

    protected override StepInputs PrepareStep(Tensor positions)
    {
        var (cos, sin) = _rope.Angles(positions);
        return new StepInputs(positions, cos, sin);
    }

    protected override Tensor Layer(int layer, Tensor hidden, StepInputs step, IAttention attention)
    {
        var w = _layers[layer];
        var c = Config;
        long q = c.NumHeads * c.HeadDim, kv = c.NumKvHeads * c.HeadDim;
        var qkv = nn.functional.linear(_kernels.RmsNorm(hidden, w.InputNorm, c.NormEps), w.Qkv);
        var parts = qkv.split([q, kv, kv], -1);
        var query = _kernels.Rotate(SplitHeads(parts[0], c.NumHeads, c.HeadDim), step.Cos!, step.Sin!);
        var key = _kernels.Rotate(SplitHeads(parts[1], c.NumKvHeads, c.HeadDim), step.Cos!, step.Sin!);
        var value = SplitHeads(parts[2], c.NumKvHeads, c.HeadDim);
        hidden = hidden + nn.functional.linear(attention.Forward(layer, query, key, value), w.Output);

        var gateUp = nn.functional.linear(_kernels.RmsNorm(hidden, w.PostNorm, c.NormEps), w.GateUp);
        return hidden + nn.functional.linear(_kernels.SiluAndMul(gateUp), w.Down);
    }

    protected override Tensor Head(Tensor hidden) => nn.functional.linear(_kernels.RmsNorm(hidden, _norm, Config.NormEps), _lmHead);

    public override void Dispose()
    {
        foreach (var l in _layers) { l.InputNorm.Dispose(); l.Qkv.Dispose(); l.Output.Dispose(); l.PostNorm.Dispose(); l.GateUp.Dispose(); l.Down.Dispose(); }
        _embedding.Dispose(); _norm.Dispose(); _lmHead.Dispose(); _rope.Dispose();
    }
}
