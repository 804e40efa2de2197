using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Kv;
using AlisaCluster.GpuWorker.Native;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Engine;

/// <summary>The decode step as CUDA graphs: per batch-size bucket (1, 2, 4, ... up to the engine's largest batch) and
/// KV policy, the whole forward (embedding, every layer with the native attention kernel, for sparse policies the
/// device-side selection and score upkeep too, head) is captured once over <see cref="DecodeInputs"/>' static buffers;
/// a step stages its inputs with one pinned copy (the previous step's picks, under async scheduling, are gathered on
/// the device) and replays the bucket's graph (a few host calls instead of ~60-90
/// ops per layer). Dense graphs and those of the engine's default policy are captured when the engine starts (a
/// first-use capture stalls the running streams); another policy's graph is captured on its first batch. Batches the
/// graphs do not serve (policies mixed in one batch, a learned split, mean scores or Quest, more than one step leaving a
/// score window, dropped blocks to recompute, more rows than the largest bucket) run on the eager step. A CPU tier is
/// read by the kernel in place (through the hot set, where the cache keeps one), so tiered caches replay graphs too.</summary>
public sealed class GraphDecodeStep : IDecodeStep
{
    private readonly ModelRunner _runner;
    private readonly EagerDecodeStep _eager;
    private readonly DecodeInputs _inputs;
    private readonly int[] _bucketSizes;
    private readonly int _maxLength;
    private sealed record Captured(CudaGraph Graph, Tensor Logits, DecodeInputs.Bucket Inputs, SparseStep? Step, Tensor ReadSlots);
    private readonly Dictionary<(int Size, KvPolicy Policy), Captured> _captured = new();
    private CudaGraph? _poolOwner;

    public GraphDecodeStep(ModelRunner runner, EagerDecodeStep eager, int maxBatch, int maxModelLength, KvPolicy defaultPolicy)
    {
        _runner = runner;
        _eager = eager;
        int maxBlocks = (maxModelLength + runner.Cache.BlockSize) / runner.Cache.BlockSize; // + the slot of the token being fed
        _maxLength = maxBlocks * runner.Cache.BlockSize;
        // graphs serve sequences that list at most half their tokens (SWA and H2O at 50% sparsity or more); sequences with
        // more hot blocks run on the eager step
        int maxHotBlocks = runner.Cache.HasHotSet ? (_maxLength / 2 + runner.Cache.BlockSize - 1) / runner.Cache.BlockSize : 0;
        _inputs = new DecodeInputs(runner.Cache, maxBatch, maxBlocks, maxHotBlocks, runner.Model.Device);
        _bucketSizes = Enumerable.Range(0, 31).Select(i => 1 << i).TakeWhile(b => b < maxBatch).Append(maxBatch).ToArray();
        foreach (var size in _bucketSizes.Reverse()) Capture(size, KvPolicy.Dense); // largest first: the shared pool is sized once
        if (Serves(defaultPolicy))
            foreach (var size in _bucketSizes.Reverse()) Capture(size, defaultPolicy);
    }

    public string Name => "cuda-graph";

    /// <summary>Steps run by the eager step because no graph serves their batch.</summary>
    public long EagerSteps { get; private set; }

    /// <summary>Dense, and sparse policies with static selection inputs whose score stores the engine keeps (local and
    /// StreamingLLM keep none).</summary>
    private bool Serves(KvPolicy policy) => policy.IsDense || (SparseStep.CanCapture(policy)
        && (!policy.NeedsPageSummaries || _runner.Cache.PageSummaries is not null)
        && (!policy.NeedsWindowScores || (_runner.Scores is { HasWindow: true } s && (!policy.PerKvHead || s.WindowGroups > 1)))
        && (!policy.NeedsCumulativeScores || _runner.Scores is { HasCumulative: true }));

    public Tensor Forward(IReadOnlyList<SequenceKv> sequences, StepTokens tokens)
    {
        int size = Array.Find(_bucketSizes, b => b >= sequences.Count);
        var policy = sequences[0].Policy.IsDense ? KvPolicy.Dense : sequences[0].Policy;
        if (size == 0 || !Serves(policy) || sequences.Any(s => (s.Policy.IsDense ? KvPolicy.Dense : s.Policy) != policy || s.DroppedBlocks > 0
                || s.HotBlocks.Count > _inputs.MaxHotBlocks))
            return Eager(sequences, tokens);
        DecodeInputs.SparseRows? sparse = null;
        if (!policy.IsDense && (sparse = DecodeInputs.SparseRows.Plan(sequences, _runner.Scores?.Ring ?? 0)) is null)
            return Eager(sequences, tokens);
        if (!_captured.TryGetValue((size, policy), out var bucket)) bucket = Capture(size, policy);
        _inputs.Stage(sequences, tokens.Host, size, sparse, tokens.Rows);
        if (tokens.Previous is not null) bucket.Inputs.TakePicks(tokens.Previous);
        bucket.Graph.Replay();
        foreach (var sequence in sequences) sequence.Length++;
        return bucket.Logits.narrow(0, 0, sequences.Count);
    }

    private Tensor Eager(IReadOnlyList<SequenceKv> sequences, StepTokens tokens)
    {
        EagerSteps++;
        return _eager.Forward(sequences, tokens);
    }

    private Captured Capture(int size, KvPolicy policy)
    {
        using var noGrad = no_grad();
        var inputs = _inputs.View(size);
        var step = policy.IsDense ? null : SparseStep.ForGraph(policy, size, _maxLength, _runner.Scores, inputs.Lengths, inputs.Segments,
            inputs.Column, inputs.Leaving);
        // all rows padding (scratch block); one eager run first, so lazy initialisations happen outside the capture
        _inputs.Stage([], [], size);
        using (RunModel(inputs, step).Logits) { }
        var graph = new CudaGraph();
        (Tensor Logits, Tensor ReadSlots)? captured = null;
        graph.Capture(() => captured = RunModel(inputs, step), _poolOwner);
        _poolOwner ??= graph;
        return _captured[(size, policy)] = new Captured(graph, captured!.Value.Logits, inputs, step, captured.Value.ReadSlots);
    }

    /// <summary>The forward over the static inputs; for sparse policies the read slots [B, L] of every position up to the
    /// longest sequence the engine admits (past a row's length: the scratch slot 0) and the selection inputs are derived
    /// on the device first, inside the graph.</summary>
    private (Tensor Logits, Tensor ReadSlots) RunModel(DecodeInputs.Bucket inputs, SparseStep? step)
    {
        using var scope = NewDisposeScope();
        var readSlots = step is null ? zeros([inputs.Size, 0], ScalarType.Int64, inputs.Lengths.device) : inputs.LogicalSlots(_runner.Cache.BlockSize, _maxLength); // dense keeps no scores
        step?.Derive(readSlots);
        var kernelInputs = new KernelStepInputs(inputs.Write, inputs.ScoreWriteSlots, readSlots, inputs.BlockTable, inputs.Lengths, inputs.HotTable);
        var attention = new KernelAttention(_runner.Cache, kernelInputs, step, _runner.Scores);
        var logits = _runner.Model.Forward(inputs.Tokens, inputs.Positions, attention, lastOnly: true);
        return (logits.view(inputs.Size, -1).MoveToOuterDisposeScope(), readSlots.MoveToOuterDisposeScope());
    }

    public void Dispose()
    {
        foreach (var captured in _captured.Values)
        {
            captured.Graph.Dispose();
            captured.Logits.Dispose();
            captured.ReadSlots.Dispose();
            captured.Step?.Dispose();
            captured.Inputs.Dispose();
        }
        _inputs.Dispose();
    }
}
