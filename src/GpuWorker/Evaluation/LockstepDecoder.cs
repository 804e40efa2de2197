using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Engine;
using AlisaCluster.GpuWorker.Kv;
using AlisaCluster.GpuWorker.Model;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Evaluation;

/// <summary>Decodes a batch of sequences in lockstep, one token per sequence per step, from an empty cache through
/// the engine's decode path (paged KV, the KV policy at every step of every layer, no dense prefill).</summary>
public sealed class LockstepDecoder : IDisposable
{
    private readonly ModelRunner _runner;
    private readonly KvCache _cache;
    private readonly TokenScores? _scores;
    private readonly List<SequenceKv> _sequences;

    public LockstepDecoder(TransformerModel model, int batch, int maxLength, KvPolicy policy, KvStorageFormat format = KvStorageFormat.Native)
    {
        var c = model.Config;
        policy.CheckWindow(c.SlidingWindow);
        const int blockSize = 16;
        int blocksPerSequence = (maxLength + blockSize - 1) / blockSize;
        _cache = new KvCache(c.NumLayers, c.NumKvHeads, c.HeadDim, batch * blocksPerSequence, blockSize, model.DType, model.Device, format,
            pageBounds: policy.NeedsPageBounds, pageSummaries: policy.NeedsPageSummaries);
        if (policy.NeedsWindowScores || policy.NeedsCumulativeScores)
        {
            int ring = policy.NeedsWindowScores ? SelectionBudget.For(policy, maxLength).ScoreWindow + 2 : 0;
            _scores = new TokenScores(c.NumLayers, _cache.SlotCount, c.NumKvHeads, ring, policy.PerKvHead, policy.NeedsCumulativeScores, model.Device,
                TokenScores.HistoryTypeFor(model.DType));
        }
        _runner = new ModelRunner(model, _cache, _scores);
        _sequences = Enumerable.Range(0, batch).Select(_ => _cache.CreateSequence()).ToList();
        foreach (var sequence in _sequences)
        {
            sequence.Policy = policy;
            _cache.TryReserve(sequence, blocksPerSequence * blockSize);
        }
        KvBytes = _cache.PoolBytes;
    }

    /// <summary>Bytes of the KV pool (K and V of all layers), for the memory comparison of storage formats.</summary>
    public long KvBytes { get; }

    /// <summary>Feeds one token per sequence; returns float32 log-probabilities [B, vocab] for the next token.</summary>
    public Tensor Step(IReadOnlyList<int> tokens)
    {
        using var logits = _runner.Forward(_sequences, tokens.Select(t => (IReadOnlyList<int>)[t]).ToList(), lastOnly: true);
        return logits.squeeze(1).log_softmax(-1);
    }

    public void Dispose()
    {
        _cache.Dispose();
        _scores?.Dispose();
    }
}
