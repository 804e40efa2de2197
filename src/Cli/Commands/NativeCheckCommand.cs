using System.Text.Json;
using AlisaCluster.GpuWorker.Attention;
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
    public sealed record FusedCase(string Kernel, string DType, string Shape, double MaxAbsError, double Tolerance, bool Passed);
    public sealed record StepCase(string Model, string DType, string Requests, int Batch, int KvCapacityTokens, int Tokens, int TokenMismatches, double MaxLogprobDelta,
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
        {
            foreach (var kernelCase in KernelCases()) await Report(kernelCase, kernelCase.Passed);
            foreach (var fusedCase in FusedCases()) await Report(fusedCase, fusedCase.Passed);
        }
        foreach (var name in models)
            foreach (var (batch, capacity, requests) in new[] { (1, 4096, "greedy"), (3, 4096, "greedy"), (8, 4096, "greedy"), (8, 320, "greedy"),
                         (8, 4096, "mixed"), (8, 4096, "sampled") })
            {
                var stepCase = await CompareSteps(Path.Combine(Path.GetDirectoryName(ModelOptions.DefaultModelFolder)!, name), batch, capacity, requests);
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

    /// <summary>The fused layer kernels against the TorchSharp ops they replace (on the same device).</summary>
    private static IEnumerable<FusedCase> FusedCases()
    {
        var device = new Device("cuda");
        foreach (var (dtype, tolerance) in new[] { (ScalarType.Float32, 1e-5), (ScalarType.Float16, 2e-3), (ScalarType.BFloat16, 2e-2) })
            foreach (var (rows, heads, kvHeads, d) in new[] { (5, 4, 2, 64), (64, 32, 32, 128), (3, 32, 8, 128) })
            {
                using var scope = NewDisposeScope();
                string name = dtype.ToString(), shape = $"rows {rows}, heads {heads}/{kvHeads}, dim {d}";
                // relative to the largest expected value: one rounding step of the dtype at that magnitude passes
                double Error(Tensor actual, Tensor reference) => (actual.to(ScalarType.Float32) - reference.to(ScalarType.Float32)).abs().max().item<float>()
                    / Math.Max(1, reference.abs().max().to(ScalarType.Float32).item<float>());
                FusedCase Case(string kernel, double error, double scale = 1) => new(kernel, name, shape, error, tolerance * scale, error <= tolerance * scale);

                var x = randn([rows, 1, heads * d], dtype, device);
                var weight = randn([heads * d], dtype, device);
                yield return Case("rms_norm", Error(LayerKernels.Fused.RmsNorm(x, weight, 1e-5), LayerKernels.Torch.RmsNorm(x, weight, 1e-5)));

                // rotary on head views of a fused QKV projection, as the model applies it
                var qkv = randn([rows, 1, (heads + 2 * kvHeads) * d], dtype, device);
                var angles = rand([rows, 1, 1, d], ScalarType.Float32, device) * 6.28;
                var (cos, sin) = (angles.cos().to(dtype), angles.sin().to(dtype));
                var query = qkv.narrow(-1, 0, heads * d).view(rows, 1, heads, d).transpose(1, 2);
                var expected = LayerKernels.Torch.Rotate(query, cos, sin);
                yield return Case("rotary", Error(LayerKernels.Fused.Rotate(query, cos, sin), expected));

                var gateUp = randn([rows, 1, 2 * heads * d], dtype, device);
                yield return Case("silu_and_mul", Error(LayerKernels.Fused.SiluAndMul(gateUp), LayerKernels.Torch.SiluAndMul(gateUp)));

                var key = qkv.narrow(-1, heads * d, kvHeads * d).view(rows, 1, kvHeads, d).transpose(1, 2);
                var value = qkv.narrow(-1, (heads + kvHeads) * d, kvHeads * d).view(rows, 1, kvHeads, d).transpose(1, 2);
                var slots = randperm(4 * rows, device: device).narrow(0, 0, rows);
                var (keyPool, valuePool) = (zeros([4 * rows, kvHeads, d], dtype, device), zeros([4 * rows, kvHeads, d], dtype, device));
                KvWriteKernel.Run(keyPool, valuePool, key, value, slots);
                var (keyRows, valueRows) = (zeros_like(keyPool), zeros_like(valuePool));
                keyRows.index_copy_(0, slots, key.permute(0, 2, 1, 3).reshape(-1, kvHeads, d));
                valueRows.index_copy_(0, slots, value.permute(0, 2, 1, 3).reshape(-1, kvHeads, d));
                yield return Case("kv_write", Math.Max(Error(keyPool, keyRows), Error(valuePool, valueRows)), 0);
            }
    }

    /// <summary>The same requests through an eager and a graph engine (fp32): "greedy"; "mixed" = every other request
    /// under SWA 50% and shorter (steps with it fall back to eager, then the graph takes over); "sampled" = seeded
    /// temperature / top-p sampling.</summary>
    private static async Task<StepCase> CompareSteps(string folder, int batch, int capacity, string requests)
    {
        using var model = LoadedModel.FromCheckpoint(folder, DeviceChoice.Parse("cuda", "fp32"));
        var prompts = Enumerable.Range(0, batch).Select(i => model.Tokenizer.Encode(string.Join(" ", Enumerable.Repeat("In the beginning God created", 1 + i % 4)))).ToArray();
        GenerationRequest Request(int i) => requests switch
        {
            "mixed" when i % 2 == 1 => new($"r{i}", prompts[i], SamplingParams.Greedy(24) with { IgnoreEos = true }) { Policy = KvPolicy.Parse("swa:0.5") },
            "sampled" => new($"r{i}", prompts[i], new SamplingParams { Temperature = 0.8, TopP = 0.9, MaxTokens = 48, Seed = i, IgnoreEos = true }),
            _ => new($"r{i}", prompts[i], SamplingParams.Greedy(48) with { IgnoreEos = true }),
        };
        async Task<(List<GenerationEvent>[] Events, long Preemptions)> Run(DecodeStepKind kind)
        {
            await using var engine = new InferenceEngine(model, new EngineOptions { KvCapacityTokens = capacity, MaxBatchSize = 8, DecodeStep = kind });
            var events = await Task.WhenAll(prompts.Select((_, i) => engine.GenerateAsync(Request(i)).ToListAsync().AsTask()));
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
        return new StepCase(Path.GetFileName(folder), "fp32", requests, batch, capacity, tokens, mismatches, delta, tolerance, graph.Preemptions,
            mismatches == 0 && delta <= tolerance);
    }
}
