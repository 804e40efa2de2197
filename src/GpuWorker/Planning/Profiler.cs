using System.Diagnostics;
using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Engine;
using AlisaCluster.GpuWorker.Kv;
using AlisaCluster.GpuWorker.Model;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Planning;

/// <summary>Measures what the cost model needs on the real model and device: batched decode steps under the policy at
/// a few (batch, length) points (through the engine's decode step: CUDA graphs where they run), batched prefix prefills at a few (rows, length) points, and the CPU -> GPU fetch and
/// GPU -> CPU offload bandwidth of KV rows. Runs within <c>kvTokens</c> of scratch KV.</summary>
public static class Profiler
{
    public static string KeyFor(string model, TransformerModel m, KvPolicy policy, KvStorageFormat format) =>
        $"{model}|{m.Device}|{m.DType}|{format}|{policy}";

    public static DeviceProfile Measure(string modelName, TransformerModel model, KvPolicy policy, KvStorageFormat format, int maxBatch,
        int maxLength, int kvTokens, Action<string>? progress = null)
    {
        using var noGrad = no_grad();
        var c = model.Config;
        var points = DecodePoints(maxBatch, maxLength, kvTokens);
        int longest = points.Max(p => p.Length), wide = points.Where(p => p.Length == longest).Max(p => p.Batch);
        using var cache = new KvCache(c.NumLayers, c.NumKvHeads, c.HeadDim, kvTokens / 16 + 2, 16, model.DType, model.Device, format);
        using var scores = policy.IsDense ? null : new TokenScores(c.NumLayers, cache.SlotCount, c.NumKvHeads,
            KvBudget.ScoreRing(policy.Sparsity, maxLength), policy.PerKvHead, policy.NeedsCumulativeScores, model.Device, TokenScores.HistoryTypeFor(model.DType));
        var runner = new ModelRunner(model, cache, scores);
        var random = new Random(7);
        // the step the engine will run (a CUDA graph where it can), so predictions time what runs
        using var decode = DecodeSteps.Create(DecodeStepKind.Auto, runner, points.Max(p => p.Batch), longest + 8, policy);

        var steps = new List<DeviceProfile.StepPoint>();
        foreach (var (batch, length) in points)
        {
            progress?.Invoke($"decode step, batch {batch}, length {length}");
            steps.Add(new(batch, length, TimeDecode(runner, decode, policy, batch, length, c.VocabSize, random)));
        }
        var prefills = new List<DeviceProfile.PrefillPoint>();
        int rows = Math.Max(1, Math.Min(wide, 8)), prefix = Math.Min(longest, 512);
        foreach (var (r, m) in new[] { (1, 16), (1, prefix), (rows, prefix / 2), (rows, prefix) }.Distinct())
        {
            progress?.Invoke($"prefill, {r} x {m} tokens");
            prefills.Add(new(r, m, TimePrefill(runner, r, m, c.VocabSize, random)));
        }
        progress?.Invoke("host <-> device bandwidth");
        var (fetch, offload) = Bandwidth(model, c.NumKvHeads * c.HeadDim);
        return new DeviceProfile(KeyFor(modelName, model, policy, format), steps, prefills, fetch, offload);
    }

    /// <summary>The (batch, length) points of the decode steps timed, each fitting <paramref name="kvTokens"/> with room
    /// for the timed steps: batch 1 and the widest batch of the longest length, at that length and a quarter of it, and
    /// the largest batch at a short length. Past ~64 rows a 7B shape's GEMMs turn compute-bound, which a line through
    /// the narrower batches alone misjudged by up to 30% at batch 256.</summary>
    public static IReadOnlyList<(int Batch, int Length)> DecodePoints(int maxBatch, int maxLength, int kvTokens)
    {
        int longest = Math.Max(32, Math.Min(maxLength, kvTokens / 2));
        int shortest = Math.Max(16, longest / 4);
        int wide = Math.Clamp(kvTokens / (longest + 32), 1, maxBatch);
        int full = Math.Clamp(kvTokens / 32, wide, maxBatch);
        int fullLength = Math.Min(shortest, 16 * (kvTokens / 16 / full) - 8); // whole 16-token blocks with 8 tokens to step into
        return new[] { (1, shortest), (1, longest), (wide, shortest), (wide, longest), (full, fullLength) }.Distinct().ToList();
    }

    private static List<SequenceKv> Fill(ModelRunner runner, int batch, int length, int vocab, Random random)
    {
        var sequences = Enumerable.Range(0, batch).Select(_ => runner.Cache.CreateSequence()).ToList();
        foreach (var s in sequences)
            if (!runner.Cache.TryReserve(s, length + 4)) throw new InvalidOperationException("profiling KV does not fit");
        var prompts = sequences.Select(_ => (IReadOnlyList<int>)Enumerable.Range(0, length).Select(_ => random.Next(4, vocab)).ToList()).ToList();
        using var logits = runner.Forward(sequences, prompts, lastOnly: true);
        logits.sum().to(ScalarType.Float32).item<float>(); // waits for the device, so prefill timings are real
        return sequences;
    }

    private static double TimeDecode(ModelRunner runner, IDecodeStep decode, KvPolicy policy, int batch, int length, int vocab, Random random)
    {
        var sequences = Fill(runner, batch, length, vocab, random);
        foreach (var s in sequences) s.Policy = policy;
        var tokens = sequences.Select(_ => random.Next(4, vocab)).ToList();
        double seconds = Timed(3, () => decode.Forward(sequences, new StepTokens(tokens)));
        foreach (var s in sequences) runner.Cache.Release(s);
        return seconds;
    }

    /// <summary>Best of two prefills after a warm-up (Fill waits for the device).</summary>
    private static double TimePrefill(ModelRunner runner, int rows, int length, int vocab, Random random)
    {
        double seconds = double.MaxValue;
        for (int rep = 0; rep < 3; rep++)
        {
            var watch = Stopwatch.StartNew();
            var sequences = Fill(runner, rows, length, vocab, random);
            if (rep > 0) seconds = Math.Min(seconds, watch.Elapsed.TotalSeconds);
            foreach (var s in sequences) runner.Cache.Release(s);
        }
        return seconds;
    }

    /// <summary>Best of <paramref name="repeats"/> runs after one warm-up; reading a value back waits for the device.</summary>
    private static double Timed(int repeats, Func<Tensor> step)
    {
        using (var warm = step()) warm.sum().to(ScalarType.Float32).item<float>();
        double best = double.MaxValue;
        for (int i = 0; i < repeats; i++)
        {
            var watch = Stopwatch.StartNew();
            using (var result = step()) result.sum().to(ScalarType.Float32).item<float>();
            best = Math.Min(best, watch.Elapsed.TotalSeconds);
        }
        return best;
    }

    /// <summary>Bytes per second of the tiered reader's fetch (host gather of scattered rows + copy to the device) and of
    /// the offload (whole blocks moved to pinned host memory, as KvCache.MoveDown does), on 64 MiB of KV-shaped rows.</summary>
    private static (double Fetch, double Offload) Bandwidth(TransformerModel model, int rowElements)
    {
        using var scope = NewDisposeScope();
        long rows = (64L << 20) / (rowElements * model.ElementSize);
        bool cuda = model.Device.type == TorchSharp.DeviceType.CUDA;
        var host = zeros([rows, rowElements], model.DType, CPU);
        if (cuda) host = host.pin_memory();
        var onDevice = zeros([rows, rowElements], model.DType, model.Device);
        var picks = randperm(rows, device: CPU)[..(int)(rows / 2)];
        long bytes = rows / 2 * rowElements * model.ElementSize;
        double fetch = Timed(3, () => host.index_select(0, picks).to(model.Device));
        // the offload as the cache does it: half the 16-row blocks moved (KvCache.MoveDown -> PoolTensor.CopyBlocks)
        var blocks = randperm(rows / 16, device: CPU)[..(int)(rows / 32)].data<long>().ToArray();
        using var move = new Kv.BlockMove(blocks, blocks, 16);
        double offload = Timed(3, () =>
        {
            Kv.PoolTensor.CopyBlocks(onDevice, host, move);
            if (cuda) TorchSharp.torch.cuda.synchronize(); // the device writes host memory directly
            return host[..1];
        });
        return (bytes / fetch, bytes / offload);
    }
}
