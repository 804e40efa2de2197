using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Kv;
using AlisaCluster.GpuWorker.Model;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Engine;

/// <summary>Runs one forward for a batch of sequences against the KV pool: builds the step's attention metadata,
/// feeds the new tokens, and leaves their K/V in the cache.</summary>
public sealed class ModelRunner(TransformerModel model, KvCache cache, TokenScores? scores = null)
{
    public TransformerModel Model { get; } = model;
    public KvCache Cache { get; } = cache;
    /// <summary>The score store of SWA and H2O, or null when the engine keeps none.</summary>
    public TokenScores? Scores => scores;

    /// <summary>Feeds <paramref name="tokens"/>[b] (all of the same length) to sequence b after its cached prefix.
    /// The caller has reserved KV room. Returns float32 logits [B, Tq or 1, vocab] on the model's device.</summary>
    public Tensor Forward(IReadOnlyList<SequenceKv> sequences, IReadOnlyList<IReadOnlyList<int>> tokens, bool lastOnly)
    {
        int queryLength = tokens[0].Count;
        if (tokens.Any(t => t.Count != queryLength)) throw new ArgumentException("all sequences of a step feed the same number of tokens");
        var flat = tokens.SelectMany(t => t).Select(t => (long)t).ToArray();
        using var tokenTensor = tensor(flat, [sequences.Count, queryLength], device: Model.Device);
        using var batch = new AttentionBatch(Cache, sequences, queryLength, Model.Device, Model.Config.SlidingWindow);
        using var sparseStep = queryLength == 1 && sequences.Any(s => !s.Policy.IsDense) ? new SparseStep(batch, scores, Model.Device, Model.Config.NumLayers) : null;
        using var recompute = Cache.IsTiered ? PrefixRecompute.For(Cache, sequences, Model.Device) : null;
        var attention = ChooseAttention(batch, sparseStep);
        using var owned = attention as IDisposable; // what an attention keeps for all layers of this forward
        var logits = Model.Forward(tokenTensor, batch.Positions, attention, lastOnly, recompute?.Pass);
        batch.CommitLengths();
        return logits;
    }

    private IAttention ChooseAttention(AttentionBatch batch, SparseStep? sparseStep)
    {
        if (KernelAttention.CanServe(batch, Model.Config, Model.Device)) return new KernelAttention(Cache, batch.KernelInputs(Cache), sparseStep, scores);
        if (sparseStep is not null) return new SparseAttention(Cache, batch, sparseStep, scores);
        var policy = batch.Sequences[0].Policy;
        if (batch.QueryLength > 1 && (policy.NeedsWindowScores || policy.NeedsCumulativeScores))
            return new ScoredPrefillAttention(Cache, batch, scores ?? throw new InvalidOperationException($"policy {policy} needs a score store"));
        return new DenseAttention(Cache, batch);
    }
}
