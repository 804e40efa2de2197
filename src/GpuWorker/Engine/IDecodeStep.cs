using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Kv;
using AlisaCluster.GpuWorker.Native;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Engine;

/// <summary>How a decode step runs: <see cref="Eager"/> issues TorchSharp ops one by one (any device, every KV policy
/// and format); <see cref="Graph"/> replays a CUDA graph per batch-size bucket with the native paged attention kernel;
/// <see cref="Auto"/> takes the graph where it can run (CUDA, native library present, a model the kernel serves and
/// a replay can repeat: no sliding window, no longrope).</summary>
public enum DecodeStepKind { Auto, Eager, Graph }

/// <summary>One decode forward for a batch: feeds each sequence's newest token at position Length (KV room reserved;
/// the token on the host or, under async scheduling, the previous step's pick on the device: <see cref="StepTokens"/>),
/// leaves its K/V in the cache, advances Length, and returns float32 logits [B, vocab] on the model's device.
/// Chosen once at engine start (<see cref="DecodeSteps.Create"/>).</summary>
public interface IDecodeStep : IDisposable
{
    string Name { get; }
    Tensor Forward(IReadOnlyList<SequenceKv> sequences, StepTokens tokens);
}

public static class DecodeSteps
{
    /// <summary>The step <paramref name="kind"/> asks for; Graph throws naming what is missing, Auto falls back to eager.</summary>
    public static IDecodeStep Create(DecodeStepKind kind, ModelRunner runner, int maxBatch, int maxModelLength, KvPolicy defaultPolicy)
    {
        // cuDNN's SDPA plans per key length (tens of ms per step): prefill and eager steps use flash / efficient SDPA
        if (runner.Model.Device.type == TorchSharp.DeviceType.CUDA && AlisaNative.IsAvailable) AlisaNative.DisableCudnnSdpa();
        var eager = new EagerDecodeStep(runner);
        if (kind == DecodeStepKind.Eager) return eager;
        var missing = GraphUnavailable(runner);
        if (missing is null) return new GraphDecodeStep(runner, eager, maxBatch, maxModelLength, defaultPolicy);
        if (kind == DecodeStepKind.Graph) throw new ArgumentException($"the CUDA-graph decode step cannot run here: {missing}", "decode_step");
        return eager;
    }

    /// <summary>Why the graph step cannot run for this model and cache, or null.</summary>
    public static string? GraphUnavailable(ModelRunner runner)
    {
        var c = runner.Model.Config;
        if (c.Rope.HasLongFactors) return "longrope picks its frequencies by sequence length at every step (a graph replays fixed ones)";
        return KernelAttention.Unsupported(c, runner.Model.Device);
    }
}

/// <summary>The decode step as TorchSharp ops issued one by one through <see cref="ModelRunner"/> (previous picks are
/// read back to the host first: an eager step uploads its inputs anyway).</summary>
public sealed class EagerDecodeStep(ModelRunner runner) : IDecodeStep
{
    public string Name => "eager";

    public Tensor Forward(IReadOnlyList<SequenceKv> sequences, StepTokens tokens)
    {
        using var logits = runner.Forward(sequences, tokens.ToHost().Select(t => (IReadOnlyList<int>)[t]).ToList(), lastOnly: true);
        return logits.reshape(sequences.Count, -1);
    }

    public void Dispose() { }
}
