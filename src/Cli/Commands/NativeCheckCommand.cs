using System.Text.Json;
using AlisaCluster.GpuWorker.Engine;
using AlisaCluster.GpuWorker.Model;
using AlisaCluster.GpuWorker.Native;
using Spectre.Console;
using static TorchSharp.torch;

namespace AlisaCluster.Cli.Commands;

/// <summary>alisa native-check: on a CUDA machine with the native library, compares (1) the paged decode attention
/// kernel with its CPU reference over dtypes, GQA shapes, splits and ragged lengths, and (2) the CUDA-graph decode
/// step with the eager step on the bundled models (greedy tokens identical, logprobs within a tolerance), batches
/// that hit several buckets and a pool small enough to preempt. Prints JSON lines; exit code 1 on any mismatch.</summary>
public static class NativeCheckCommand
{
    public sealed record KernelCase(string DType, int Batch, int Heads, int KvHeads, int HeadDim, int[] Lengths, double MaxAbsError, double Tolerance, bool Passed);
    public sealed record StepCase(string Model, string DType, int Batch, int KvCapacityTokens, int Tokens, int TokenMismatches, double MaxLogprobDelta,
        double Tolerance, long Preemptions, bool Passed);

    public static async Task<int> RunAsync(CommandLine args)
    {
        var output = args.String("out");
        var models = args.Strings("models", "tiny-llama,tiny-opt");
        args.RejectUnknown();
        AlisaNative.Require();
        if (!cuda.is_available()) throw new ArgumentException("native-check needs a CUDA device");
        bool passed = true;
        async Task Report(object result, bool ok)
        {
            passed &= ok;
            var json = JsonSerializer.Serialize(result);
            Console.WriteLine(json);
            if (output is not null) await File.AppendAllTextAsync(output, json + "\n");
        }
        using (no_grad())
            foreach (var kernelCase in KernelCases()) await Report(kernelCase, kernelCase.Passed);
        foreach (var name in models)
            foreach (var (batch, capacity) in new[] { (1, 4096), (3, 4096), (8, 4096), (8, 320) })
            {
                var stepCase = await CompareSteps(Path.Combine(Path.GetDirectoryName(ModelOptions.DefaultModelFolder)!, name), batch, capacity);
                await Report(stepCase, stepCase.Passed);
            }
        AnsiConsole.MarkupLine(passed ? "[green]native-check: passed[/]" : "[red]native-check: FAILED[/]");
        return passed ? 0 : 1;
    }

    private static IEnumerable<KernelCase> KernelCases()
    {
        var random = new Random(1);
        foreach (var (dtype, tolerance) in new[] { (ScalarType.Float32, 1e-4), (ScalarType.Float16, 4e-3), (ScalarType.BFloat16, 3e-2) })
            foreach (var (batch, heads, kvHeads, d) in new[] { (1, 4, 2, 64), (3, 32, 32, 128), (5, 32, 8, 128), (64, 4, 2, 64), (2, 12, 2, 128) })
            {
                const int blockSize = 16;
                var lengths = Enumerable.Range(0, batch).Select(b => new[] { 1, 17, 300, 1000, 33, 64 }[(b + heads) % 6]).ToArray();
                int maxBlocks = lengths.Max() / blockSize + 1;
                int blocks = lengths.Sum(n => n / blockSize + 1) + 1;
                using var scope = NewDisposeScope();
                var device = new Device("cuda");
                var keys = randn([blocks * blockSize, kvHeads, d], dtype, device);
                var values = randn([blocks * blockSize, kvHeads, d], dtype, device);
                var query = randn([batch, heads, d], dtype, device);
                // every sequence gets its own blocks in a shuffled order (block 0 stays scratch)
                var order = Enumerable.Range(1, blocks - 1).OrderBy(_ => random.Next()).ToArray();
                var table = new long[batch * maxBlocks];
                int next = 0;
                for (int b = 0; b < batch; b++)
                    for (int i = 0; i <= lengths[b] / blockSize; i++) table[b * maxBlocks + i] = order[next++];
                var blockTable = tensor(table, [batch, maxBlocks], device: device);
                var lengthTensor = tensor(lengths.Select(n => (long)n).ToArray(), device: device);
                float scale = (float)(1 / Math.Sqrt(d));
                var actual = empty([batch, heads, d], dtype, device);
                PagedDecodeAttentionKernel.Run(actual, query, keys, values, blockTable, lengthTensor, blockSize, scale);
                var expected = PagedDecodeAttentionReference.Run(query, keys, values, blockTable, lengthTensor, blockSize, scale);
                double error = (actual.to(ScalarType.Float32, CPU) - expected).abs().max().item<float>();
                yield return new KernelCase(dtype.ToString(), batch, heads, kvHeads, d, lengths, error, tolerance, error <= tolerance);
            }
    }

    /// <summary>The same greedy requests through an eager and a graph engine (fp32).</summary>
    private static async Task<StepCase> CompareSteps(string folder, int batch, int capacity)
    {
        using var model = LoadedModel.FromCheckpoint(folder, DeviceChoice.Parse("cuda", "fp32"));
        var prompts = Enumerable.Range(0, batch).Select(i => model.Tokenizer.Encode(string.Join(" ", Enumerable.Repeat("In the beginning God created", 1 + i % 4)))).ToArray();
        var sampling = SamplingParams.Greedy(48) with { IgnoreEos = true };
        async Task<(List<GenerationEvent>[] Events, long Preemptions)> Run(DecodeStepKind kind)
        {
            await using var engine = new InferenceEngine(model, new EngineOptions { KvCapacityTokens = capacity, MaxBatchSize = 8, DecodeStep = kind });
            var events = await Task.WhenAll(prompts.Select((p, i) => engine.GenerateAsync(new GenerationRequest($"r{i}", p, sampling)).ToListAsync().AsTask()));
            if (kind == DecodeStepKind.Graph && engine.Stats.DecodeStep != "cuda-graph") throw new InvalidOperationException("the graph step was not used");
            return (events, engine.Stats.Preemptions);
        }
        var eager = await Run(DecodeStepKind.Eager);
        var graph = await Run(DecodeStepKind.Graph);
        int mismatches = 0, tokens = 0;
        double delta = 0;
        for (int i = 0; i < batch; i++)
            foreach (var (e, g) in eager.Events[i].Zip(graph.Events[i]))
            {
                tokens++;
                if (e.TokenId != g.TokenId) mismatches++;
                else delta = Math.Max(delta, Math.Abs(e.Logprob - g.Logprob));
            }
        const double tolerance = 1e-4;
        return new StepCase(Path.GetFileName(folder), "fp32", batch, capacity, tokens, mismatches, delta, tolerance, graph.Preemptions,
            mismatches == 0 && delta <= tolerance);
    }
}
