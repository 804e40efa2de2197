using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Kv;
using AlisaCluster.GpuWorker.Native;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Engine;

/// <summary>The decode step as CUDA graphs: per batch-size bucket (1, 2, 4, ... up to the engine's largest batch) the
/// whole forward (embedding, every layer with the native paged attention kernel, head) is captured once, when the
/// engine starts (a first-use capture would stall the running streams), over <see cref="DecodeInputs"/>' static buffers; a step stages its inputs with one pinned copy and replays the
/// bucket's graph (a few host calls instead of ~60 ops per layer). Batches the kernel does not serve (a sparse KV
/// policy in the batch, more rows than the largest bucket) run on the eager step.</summary>
public sealed class GraphDecodeStep : IDecodeStep
{
    private readonly ModelRunner _runner;
    private readonly EagerDecodeStep _eager;
    private readonly DecodeInputs _inputs;
    private readonly int[] _bucketSizes;
    private sealed record Captured(CudaGraph Graph, Tensor Logits, DecodeInputs.Bucket Inputs);
    private readonly Dictionary<int, Captured> _captured = new();
    private CudaGraph? _poolOwner;

    public GraphDecodeStep(ModelRunner runner, EagerDecodeStep eager, int maxBatch, int maxModelLength)
    {
        _runner = runner;
        _eager = eager;
        int maxBlocks = (maxModelLength + runner.Cache.BlockSize) / runner.Cache.BlockSize; // + the slot of the token being fed
        _inputs = new DecodeInputs(maxBatch, maxBlocks, runner.Model.Device);
        _bucketSizes = Enumerable.Range(0, 31).Select(i => 1 << i).TakeWhile(b => b < maxBatch).Append(maxBatch).ToArray();
        using var noGrad = no_grad();
        foreach (var size in _bucketSizes.Reverse()) Capture(size); // largest first: the shared pool is sized once
    }

    public string Name => "cuda-graph";

    public Tensor Forward(IReadOnlyList<SequenceKv> sequences, IReadOnlyList<int> tokens)
    {
        int size = Array.Find(_bucketSizes, b => b >= sequences.Count);
        if (size == 0 || sequences.Any(s => !s.Policy.IsDense)) return _eager.Forward(sequences, tokens);
        var bucket = _captured[size];
        _inputs.Stage(sequences, tokens, size);
        bucket.Graph.Replay();
        foreach (var sequence in sequences) sequence.Length++;
        return bucket.Logits.narrow(0, 0, sequences.Count);
    }

    private void Capture(int size)
    {
        var inputs = _inputs.View(size);
        // all rows padding (scratch block); one eager run first, so lazy initialisations happen outside the capture
        _inputs.Stage([], [], size);
        using (RunModel(inputs)) { }
        var graph = new CudaGraph();
        Tensor? logits = null;
        graph.Capture(() => logits = RunModel(inputs), _poolOwner);
        _poolOwner ??= graph;
        _captured[size] = new Captured(graph, logits!, inputs);
    }

    private Tensor RunModel(DecodeInputs.Bucket inputs)
    {
        using var scope = NewDisposeScope();
        var logits = _runner.Model.Forward(inputs.Tokens, inputs.Positions, new PagedKernelAttention(_runner.Cache, inputs), lastOnly: true);
        return logits.view(inputs.Size, -1).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        foreach (var captured in _captured.Values)
        {
            captured.Graph.Dispose();
            captured.Logits.Dispose();
            captured.Inputs.Dispose();
        }
        _inputs.Dispose();
    }
}
