using AlisaCluster.GpuWorker.Attention;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Model;

/// <summary>OPT (learned positions with offset 2, pre-LayerNorm, ReLU MLP, biases, LM head usually tied to the embedding).</summary>
public sealed class OptModel : TransformerModel
{
    private sealed record LayerWeights(Tensor AttnNormW, Tensor AttnNormB, Tensor Qkv, Tensor QkvBias, Tensor Output, Tensor OutputBias,
        Tensor MlpNormW, Tensor MlpNormB, Tensor Fc1, Tensor Fc1Bias, Tensor Fc2, Tensor Fc2Bias);

    private readonly Tensor _embedding;
    private readonly Tensor _positions;
    private readonly LayerWeights[] _layers;
    private readonly Tensor _finalNormW, _finalNormB;
    private readonly Tensor _lmHead;

    public OptModel(ModelConfig c, WeightSource weights, Device device, ScalarType dtype) : base(c, device, dtype)
    {
        // Published OPT checkpoints name tensors either "model.decoder.*" or "decoder.*".
        var prefix = weights.Contains("model.decoder.embed_tokens.weight") ? "model.decoder." : "decoder.";
        Tensor Load(string name, params long[] shape) => weights.Load(prefix + name, shape, dtype, device);
        long h = c.HiddenSize;
        _embedding = Load("embed_tokens.weight", c.VocabSize, h);
        _positions = Load("embed_positions.weight", c.MaxPositions + ModelConfig.OptPositionOffset, h);
        _layers = new LayerWeights[c.NumLayers];
        for (int i = 0; i < c.NumLayers; i++)
        {
            var p = $"layers.{i}.";
            _layers[i] = new LayerWeights(
                Load(p + "self_attn_layer_norm.weight", h), Load(p + "self_attn_layer_norm.bias", h),
                Fuse(Load(p + "self_attn.q_proj.weight", h, h), Load(p + "self_attn.k_proj.weight", h, h), Load(p + "self_attn.v_proj.weight", h, h)),
                Fuse(Load(p + "self_attn.q_proj.bias", h), Load(p + "self_attn.k_proj.bias", h), Load(p + "self_attn.v_proj.bias", h)),
                Load(p + "self_attn.out_proj.weight", h, h), Load(p + "self_attn.out_proj.bias", h),
                Load(p + "final_layer_norm.weight", h), Load(p + "final_layer_norm.bias", h),
                Load(p + "fc1.weight", c.IntermediateSize, h), Load(p + "fc1.bias", c.IntermediateSize),
                Load(p + "fc2.weight", h, c.IntermediateSize), Load(p + "fc2.bias", h));
        }
        _finalNormW = Load("final_layer_norm.weight", h);
        _finalNormB = Load("final_layer_norm.bias", h);
        _lmHead = LoadLmHead(weights, "lm_head.weight", _embedding, device, dtype);
    }

    private IEnumerable<Tensor> AllTensors() => _layers
        .SelectMany(l => new[] { l.AttnNormW, l.AttnNormB, l.Qkv, l.QkvBias, l.Output, l.OutputBias, l.MlpNormW, l.MlpNormB, l.Fc1, l.Fc1Bias, l.Fc2, l.Fc2Bias })
        .Concat([_embedding, _positions, _finalNormW, _finalNormB]).Concat(ReferenceEquals(_lmHead, _embedding) ? [] : [_lmHead]);

    public override long ParameterBytes => Bytes(AllTensors());

    protected override Tensor Embed(Tensor tokens, Tensor positions)
    {
        long b = tokens.shape[0], t = tokens.shape[1];
        var tokenEmbeds = _embedding.index_select(0, tokens.reshape(-1)).view(b, t, -1);
        var positionEmbeds = _positions.index_select(0, positions.add(Scalars.Of((long)ModelConfig.OptPositionOffset), Scalars.One).reshape(-1)).view(b, t, -1);
        return tokenEmbeds.add(positionEmbeds, Scalars.One);
    }

    protected override ResidualStream Layer(int layer, ResidualStream input, StepInputs step, IAttention attention)
    {
        var w = _layers[layer];
        var hidden = input.Hidden;
        var c = Config;
        var normed = nn.functional.layer_norm(hidden, [c.HiddenSize], w.AttnNormW, w.AttnNormB, c.NormEps);
        var qkv = nn.functional.linear(normed, w.Qkv, w.QkvBias).chunk(3, -1);
        var attended = attention.Forward(layer, SplitHeads(qkv[0], c.NumHeads, c.HeadDim),
            SplitHeads(qkv[1], c.NumKvHeads, c.HeadDim), SplitHeads(qkv[2], c.NumKvHeads, c.HeadDim));
        hidden = hidden.add(nn.functional.linear(attended, w.Output, w.OutputBias), Scalars.One);

        normed = nn.functional.layer_norm(hidden, [c.HiddenSize], w.MlpNormW, w.MlpNormB, c.NormEps);
        var mlp = nn.functional.linear(nn.functional.relu(nn.functional.linear(normed, w.Fc1, w.Fc1Bias)), w.Fc2, w.Fc2Bias);
        return new ResidualStream(hidden.add(mlp, Scalars.One), null);
    }

    protected override Tensor Head(ResidualStream stream) =>
        nn.functional.linear(nn.functional.layer_norm(stream.Hidden, [Config.HiddenSize], _finalNormW, _finalNormB, Config.NormEps), _lmHead);

    public override void Dispose()
    {
        foreach (var t in AllTensors()) t.Dispose();
    }
}
