using AlisaCluster.GpuWorker.Attention;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Model;

/// <summary>A decoder-only transformer: embeddings, N layers, final norm and LM head. Subclasses hold one
/// architecture's weights and layer math; attention is delegated to an <see cref="IAttention"/>.</summary>
public abstract class TransformerModel : IDisposable
{
    protected TransformerModel(ModelConfig config, Device device, ScalarType dtype)
    {
        Config = config; Device = device; DType = dtype;
    }

    public ModelConfig Config { get; }
    public Device Device { get; }
    public ScalarType DType { get; }
    public abstract long ParameterBytes { get; }
    public int ElementSize => DType == ScalarType.Float32 ? 4 : 2;

    /// <summary>Builds the model and checks that it used every tensor the source holds.</summary>
    public static TransformerModel Create(ModelConfig config, WeightSource weights, Device device, ScalarType dtype)
    {
        TransformerModel model = config.Architecture switch
        {
            ModelArchitecture.Llama => new LlamaModel(config, weights, device, dtype),
            ModelArchitecture.Opt => new OptModel(config, weights, device, dtype),
            _ => throw new NotSupportedException(config.Architecture.ToString()),
        };
        try { weights.EnsureAllUsed(); }
        catch { model.Dispose(); throw; }
        return model;
    }

    /// <summary>Runs the new tokens through the model.</summary>
    /// <param name="tokens">[B, Tq] token ids</param>
    /// <param name="positions">[B, Tq] absolute positions</param>
    /// <param name="lastOnly">only the last position's logits (generation) instead of every position's (scoring)</param>
    /// <param name="prefix">a second batch of tokens run through each layer just before the main one, whose output is
    /// discarded: the prefix prefill that recomputes dropped K/V for the layer's attention to read</param>
    /// <returns>float32 logits [B, Tq or 1, vocab]</returns>
    public Tensor Forward(Tensor tokens, Tensor positions, IAttention attention, bool lastOnly, PrefixPass? prefix = null)
    {
        using var scope = NewDisposeScope();
        var stream = new ResidualStream(Embed(tokens, positions), null);
        var step = PrepareStep(positions);
        var prefixStream = prefix is null ? default : new ResidualStream(Embed(prefix.Tokens, prefix.Positions), null);
        var prefixStep = prefix is null ? null : PrepareStep(prefix.Positions);
        for (int layer = 0; layer < Config.NumLayers; layer++)
        {
            // a scope per layer, so activations are freed layer by layer (matters for long prefills on the GPU)
            using var layerScope = NewDisposeScope();
            if (prefix is not null) prefixStream = Advance(prefixStream, Layer(layer, prefixStream, prefixStep!, prefix.Attention));
            stream = Advance(stream, Layer(layer, stream, step, attention));
        }
        if (lastOnly) stream = stream.LastPosition();
        return Head(stream).to(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    private static ResidualStream Advance(ResidualStream previous, ResidualStream next)
    {
        next.Hidden.MoveToOuterDisposeScope();
        next.Pending?.MoveToOuterDisposeScope();
        previous.Hidden.Dispose();
        previous.Pending?.Dispose();
        return next;
    }

    /// <summary>The residual stream between layers: <see cref="Hidden"/> plus <see cref="Pending"/>, a layer's last
    /// output not yet added, which the next layer's norm (or the final one) adds in the same kernel (Llama's fused add +
    /// RMSNorm: one launch instead of two per residual). Null when there is nothing to add (OPT always).</summary>
    protected readonly record struct ResidualStream(Tensor Hidden, Tensor? Pending)
    {
        /// <summary>The last position of every row ([B, 1, hidden]): all the head needs for generation.</summary>
        public ResidualStream LastPosition() => new(Hidden[.., ^1..], Pending?[.., ^1..]);
    }

    /// <summary>Tokens [R, M] at positions [R, M] with their own attention (see the prefix parameter of Forward).</summary>
    public sealed record PrefixPass(Tensor Tokens, Tensor Positions, IAttention Attention);

    protected abstract Tensor Embed(Tensor tokens, Tensor positions);
    protected abstract ResidualStream Layer(int layer, ResidualStream input, StepInputs step, IAttention attention);

    /// <summary>What every layer of one forward shares, computed once (e.g. RoPE's cos/sin for the positions).</summary>
    protected sealed record StepInputs(Tensor Positions, Tensor? Cos = null, Tensor? Sin = null);

    protected virtual StepInputs PrepareStep(Tensor positions) => new(positions);
    protected abstract Tensor Head(ResidualStream stream);

    /// <summary>[B, T, heads * D] -> [B, heads, T, D]</summary>
    protected static Tensor SplitHeads(Tensor t, int heads, int headDim) =>
        t.view(t.shape[0], t.shape[1], heads, headDim).transpose(1, 2);

    protected static long Bytes(IEnumerable<Tensor> tensors) => tensors.Sum(t => t.numel() * t.element_size());

    /// <summary>Concatenates along dim 0 (Q/K/V or gate/up into one matmul) and frees the parts.</summary>
    protected static Tensor Fuse(params Tensor[] parts)
    {
        var fused = cat(parts, 0);
        foreach (var part in parts) part.Dispose();
        return fused;
    }

    /// <summary>The LM head: its own tensor when untied (required); the embedding when tied, and then a stored copy
    /// must equal it (it is compared, not ignored).</summary>
    protected Tensor LoadLmHead(WeightSource weights, string name, Tensor embedding, Device device, ScalarType dtype)
    {
        long[] shape = [Config.VocabSize, Config.HiddenSize];
        if (!Config.TieWordEmbeddings) return weights.Load(name, shape, dtype, device);
        if (weights.Contains(name))
        {
            using var stored = weights.Load(name, shape, dtype, device);
            if (!stored.allclose(embedding, rtol: 0, atol: 0))
                throw new InvalidDataException($"tensor '{name}' differs from the token embedding, but config.json has tie_word_embeddings true");
        }
        return embedding;
    }

    public abstract void Dispose();
}
