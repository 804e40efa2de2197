using AlisaCluster.GpuWorker.Attention;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Model;

/// <summary>Llama-shaped families (RMSNorm, RoPE, SwiGLU, GQA): Llama 2/3, Mistral, Qwen2 (q/k/v biases) and Phi-3 (stored
/// with fused qkv_proj and gate_up_proj). Q/K/V and gate/up projections run as one matmul each.</summary>
public sealed class LlamaModel : TransformerModel
{
    private sealed record LayerWeights(Tensor InputNorm, Tensor Qkv, Tensor? QkvBias, Tensor Output, Tensor? OutputBias, Tensor PostNorm,
        Tensor GateUp, Tensor Down)
    {
        public IEnumerable<Tensor> All() => new[] { InputNorm, Qkv, QkvBias, Output, OutputBias, PostNorm, GateUp, Down }.OfType<Tensor>();
    }

    private readonly Tensor _embedding;
    private readonly LayerWeights[] _layers;
    private readonly Tensor _norm;
    private readonly Tensor _lmHead;
    private readonly RotaryEmbedding _rope;
    private readonly LayerKernels _kernels;

    public LlamaModel(ModelConfig c, WeightSource weights, Device device, ScalarType dtype) : base(c, device, dtype)
    {
        Tensor Load(string name, params long[] shape) => weights.Load(name, shape, dtype, device);
        long q = c.NumHeads * c.HeadDim, kv = c.NumKvHeads * c.HeadDim, h = c.HiddenSize, m = c.IntermediateSize;
        bool fusedInCheckpoint = c.ModelType == "phi3";
        _embedding = Load("model.embed_tokens.weight", c.VocabSize, h);
        _layers = new LayerWeights[c.NumLayers];
        for (int i = 0; i < c.NumLayers; i++)
        {
            var a = $"model.layers.{i}.self_attn.";
            var p = $"model.layers.{i}.";
            _layers[i] = new LayerWeights(
                Load(p + "input_layernorm.weight", h),
                fusedInCheckpoint ? Load(a + "qkv_proj.weight", q + 2 * kv, h)
                    : Fuse(Load(a + "q_proj.weight", q, h), Load(a + "k_proj.weight", kv, h), Load(a + "v_proj.weight", kv, h)),
                c.QkvBias ? Fuse(Load(a + "q_proj.bias", q), Load(a + "k_proj.bias", kv), Load(a + "v_proj.bias", kv)) : null,
                Load(a + "o_proj.weight", h, q),
                c.OutputBias ? Load(a + "o_proj.bias", h) : null,
                Load(p + "post_attention_layernorm.weight", h),
                fusedInCheckpoint ? Load(p + "mlp.gate_up_proj.weight", 2 * m, h)
                    : Fuse(Load(p + "mlp.gate_proj.weight", m, h), Load(p + "mlp.up_proj.weight", m, h)),
                Load(p + "mlp.down_proj.weight", h, m));
        }
        _norm = Load("model.norm.weight", h);
        _lmHead = LoadLmHead(weights, "lm_head.weight", _embedding, device, dtype);
        _rope = new RotaryEmbedding(c.HeadDim, c.MaxPositions, c.Rope, device, dtype, c.CheckpointDType);
        _kernels = LayerKernels.For(device);
    }

    public override long ParameterBytes => Bytes(_layers.SelectMany(l => l.All())
        .Append(_embedding).Append(_norm).Concat(ReferenceEquals(_lmHead, _embedding) ? [] : new[] { _lmHead }));

    protected override Tensor Embed(Tensor tokens, Tensor positions) =>
        _embedding.index_select(0, tokens.reshape(-1)).view(tokens.shape[0], tokens.shape[1], -1);

    protected override StepInputs PrepareStep(Tensor positions)
    {
        var (cos, sin) = _rope.Angles(positions);
        return new StepInputs(positions, cos, sin);
    }

    protected override ResidualStream Layer(int layer, ResidualStream input, StepInputs step, IAttention attention)
    {
        var w = _layers[layer];
        var c = Config;
        long q = c.NumHeads * c.HeadDim, kv = c.NumKvHeads * c.HeadDim;
        var (hidden, normed) = Normalize(input, w.InputNorm);
        var qkv = nn.functional.linear(normed, w.Qkv, w.QkvBias);
        var parts = qkv.split([q + kv, kv], -1);
        // the query and key heads sit side by side in the fused projection: one rotary pass over both
        var rotated = _kernels.Rotate(SplitHeads(parts[0], c.NumHeads + c.NumKvHeads, c.HeadDim), step.Cos!, step.Sin!);
        var query = rotated.narrow(1, 0, c.NumHeads);
        var key = rotated.narrow(1, c.NumHeads, c.NumKvHeads);
        var value = SplitHeads(parts[1], c.NumKvHeads, c.HeadDim);
        var attended = nn.functional.linear(attention.Forward(layer, query, key, value), w.Output, w.OutputBias);
        (hidden, normed) = _kernels.AddRmsNorm(hidden, attended, w.PostNorm, c.NormEps);

        var gateUp = nn.functional.linear(normed, w.GateUp);
        // the MLP's output is added by the next norm (the next layer's input norm or the final one), in its kernel
        return new ResidualStream(hidden, nn.functional.linear(_kernels.SiluAndMul(gateUp), w.Down));
    }

    /// <summary>The stream's hidden state with its pending output added, and its RMSNorm.</summary>
    private (Tensor Hidden, Tensor Normed) Normalize(ResidualStream stream, Tensor weight) => stream.Pending is null
        ? (stream.Hidden, _kernels.RmsNorm(stream.Hidden, weight, Config.NormEps))
        : _kernels.AddRmsNorm(stream.Hidden, stream.Pending, weight, Config.NormEps);

    protected override Tensor Head(ResidualStream stream) => nn.functional.linear(Normalize(stream, _norm).Normed, _lmHead);

    public override void Dispose()
    {
        foreach (var t in _layers.SelectMany(l => l.All())) t.Dispose();
        _embedding.Dispose(); _norm.Dispose(); _lmHead.Dispose(); _rope.Dispose();
    }
}
