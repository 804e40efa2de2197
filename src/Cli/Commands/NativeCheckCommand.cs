using AlisaCluster.GpuWorker;
using System.Text.Json;
using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Engine;
using AlisaCluster.GpuWorker.Kv;
using AlisaCluster.GpuWorker.Model;
using AlisaCluster.GpuWorker.Native;
using AlisaCluster.GpuWorker.Planning;
using Spectre.Console;
using static TorchSharp.torch;

namespace AlisaCluster.Cli.Commands;

/// <summary>alisa native-check: on a CUDA machine with the native library, compares (1) the paged decode attention
/// kernel with its CPU reference over dtypes, GQA shapes, splits, ragged lengths, selections, INT8 and a CPU tier,
/// (2) the fused layer kernels with the TorchSharp ops they replace, and the selection, hot-set, offload-copy and
/// page-summaries kernels with their references, and (3) the CUDA-graph decode
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
            foreach (var fusedCase in FusedCases().Concat(WindowScoresCheck.Cases()).Concat(SelectTopCheck.Cases()).Concat(HotSetCheck.Cases()).Concat(CopyBlocksCheck.Cases()).Concat(PageSummariesCheck.Cases())) await Report(fusedCase, fusedCase.Passed);
        }
        foreach (var name in models)
            foreach (var (batch, capacity, requests) in new[] { (1, 4096, "greedy"), (3, 4096, "greedy"), (8, 4096, "greedy"), (8, 320, "greedy"),
                         (8, 4096, "mixed"), (8, 4096, "sampled"),
                         (8, 4096, "swa"), (8, 320, "swa"), (8, 4096, "swa-int8"), (8, 4096, "h2o"), (8, 4096, "swa-tiered"), (8, 4096, "swa-tiered-int8"),
                         (8, 4096, "swa-summaries") })
            {
                var stepCase = await CompareSteps(Path.Combine(Path.GetDirectoryName(ModelOptions.DefaultModelFolder)!, name), batch, capacity, requests);
                await Report(stepCase, stepCase.Passed);
            }
        AnsiConsole.MarkupLine(passed ? "[green]native-check: passed[/]" : "[red]native-check: FAILED[/]");
        return passed ? 0 : 1;
    }

    /// <summary>The attention kernel against its CPU reference: dtypes, GQA shapes, ragged lengths, splits, and the
    /// sparse variants: a per-KV-head selection (sinks, listed positions, recent range) with its logits and weights,
    /// INT8 rows, and rows split between the GPU pool and a page-locked CPU tier.</summary>
    private static IEnumerable<KernelCase> KernelCases()
    {
        var random = new Random(1);
        var device = new Device("cuda");
        foreach (var (dtype, tolerance) in new[] { (ScalarType.Float32, 1e-4), (ScalarType.Float16, 4e-3), (ScalarType.BFloat16, 3e-2) })
            foreach (var (batch, heads, kvHeads, d) in new[] { (1, 4, 2, 64), (3, 32, 32, 128), (5, 32, 8, 128), (64, 4, 2, 64), (2, 12, 2, 128) })
                foreach (var variant in new[] { "dense", "selected", "int8", "int8+cpu-tier" })
                {
                    if (dtype != ScalarType.Float16 && variant != "dense") continue; // the sparse variants in the serving dtype
                    const int blockSize = 16;
                    var lengths = Enumerable.Range(0, batch).Select(b => new[] { 1, 17, 300, 1000, 33, 64 }[(b + heads) % 6]).ToArray();
                    int maxBlocks = lengths.Max() / blockSize + 1;
                    int blocks = lengths.Sum(n => n / blockSize + 1) + 1;
                    using var scope = NewDisposeScope();
                    var keys = randn([blocks * blockSize, kvHeads, d], dtype, device);
                    var values = randn([blocks * blockSize, kvHeads, d], dtype, device);
                    var query = randn([batch, heads, d], dtype, device);
                    // every sequence gets its own blocks in a shuffled order (block 0 stays scratch)
                    var order = Enumerable.Range(1, blocks - 1).OrderBy(_ => random.Next()).ToArray();
                    var table = new long[batch * maxBlocks];
                    int next = 0;
                    for (int b = 0; b < batch; b++)
                        for (int i = 0; i <= lengths[b] / blockSize; i++) table[b * maxBlocks + i] = order[next++];
                    KvPoolTensors gpu = new(keys, values);
                    KvPoolTensors? cpu = null;
                    long gpuBlocks = 0;
                    if (variant.StartsWith("int8"))
                    {
                        var (kc, kp) = Int8KvLayerStore.Quantize(keys);
                        var (vc, vp) = Int8KvLayerStore.Quantize(values);
                        gpu = new KvPoolTensors(kc, vc, kp, vp);
                    }
                    if (variant.EndsWith("cpu-tier"))
                    {
                        // the upper half of the blocks as a page-locked CPU tier: block ids >= half address it
                        gpuBlocks = blocks / 2;
                        Tensor Host(Tensor t) => t.narrow(0, gpuBlocks * blockSize, (blocks - gpuBlocks) * blockSize).cpu().pin_memory();
                        cpu = new KvPoolTensors(Host(gpu.Keys), Host(gpu.Values), Host(gpu.KeyParams!), Host(gpu.ValueParams!));
                    }
                    var selection = variant == "dense" ? null : RandomSelection(random, lengths, kvHeads, device);
                    var blockTable = tensor(table, [batch, maxBlocks], device: device);
                    var lengthTensor = tensor(lengths.Select(n => (long)n).ToArray(), device: device);
                    float scale = (float)(1 / Math.Sqrt(d));
                    var expected = PagedDecodeAttentionReference.Run(query, gpu, blockTable, lengthTensor, blockSize, scale, cpu, gpuBlocks, selection);
                    var actual = empty([batch, heads, d], dtype, device);
                    var logits = full([batch, heads, expected.Logits.shape[2]], Scalars.Of(float.NaN), ScalarType.Float32, device);
                    var lse = empty([batch, heads], ScalarType.Float32, device);
                    PagedDecodeAttentionKernel.Run(actual, query, gpu, blockTable, lengthTensor, blockSize, scale, cpu, gpuBlocks, selection, logits, lse);
                    var weights = empty([batch, kvHeads, expected.Logits.shape[2]], ScalarType.Float32, device);
                    var positions = empty([batch, kvHeads, expected.Logits.shape[2]], ScalarType.Int64, device);
                    PagedDecodeAttentionKernel.Weights(weights, positions, logits, lse, lengthTensor, selection);
                    var (expectedWeights, expectedPositions) = PagedDecodeAttentionReference.Weights(expected, lengthTensor, kvHeads, selection);
                    double Max(Tensor a, Tensor e) => a.to(ScalarType.Float32, CPU).sub(e).abs().nan_to_num(0).max().item<float>();
                    double error = Math.Max(Max(actual, expected.Output), Math.Max(Max(lse, expected.Lse), Max(weights, expectedWeights)));
                    bool samePositions = positions.cpu().eq(expectedPositions).all().item<bool>();
                    yield return new KernelCase($"{dtype} {variant}", batch, heads, kvHeads, d, lengths, error, tolerance, error <= tolerance && samePositions);
                }
    }

    /// <summary>Per (sequence, KV head): up to 4 sinks, a random set of listed middle positions, a recent range.</summary>
    private static AttentionSelection RandomSelection(Random random, int[] lengths, int kvHeads, Device device)
    {
        const int most = 64;
        var segments = new int[lengths.Length * kvHeads * 3];
        var listed = new int[lengths.Length * kvHeads * most];
        for (int b = 0; b < lengths.Length; b++)
            for (int h = 0; h < kvHeads; h++)
            {
                int n = lengths[b], recent = Math.Max(0, n - 1 - random.Next(Math.Max(1, n / 4))), sinks = Math.Min(random.Next(5), recent);
                var middle = Enumerable.Range(sinks, recent - sinks).OrderBy(_ => random.Next()).Take(random.Next(most + 1)).ToArray();
                int at = (b * kvHeads + h) * 3;
                (segments[at], segments[at + 1], segments[at + 2]) = (sinks, middle.Length, recent);
                for (int i = 0; i < middle.Length; i++) listed[(b * kvHeads + h) * most + i] = middle[i];
            }
        return new AttentionSelection(tensor(segments, [lengths.Length, kvHeads, 3], device: device), tensor(listed, [lengths.Length, kvHeads, most], device: device));
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
                double Error(Tensor actual, Tensor reference) => actual.to(ScalarType.Float32).sub(reference.to(ScalarType.Float32)).abs().max().item<float>()
                    / Math.Max(1, reference.abs().max().to(ScalarType.Float32).item<float>());
                FusedCase Case(string kernel, double error, double scale = 1) => new(kernel, name, shape, error, tolerance * scale, error <= tolerance * scale);

                var x = randn([rows, 1, heads * d], dtype, device);
                var weight = randn([heads * d], dtype, device);
                yield return Case("rms_norm", Error(LayerKernels.Fused.RmsNorm(x, weight, 1e-5), LayerKernels.Torch.RmsNorm(x, weight, 1e-5)));
                var delta = randn([rows, 1, heads * d], dtype, device);
                var (fusedSum, fusedNormed) = LayerKernels.Fused.AddRmsNorm(x, delta, weight, 1e-5);
                var (sum, normed) = LayerKernels.Torch.AddRmsNorm(x, delta, weight, 1e-5);
                yield return Case("add_rms_norm", Math.Max(Error(fusedSum, sum), Error(fusedNormed, normed)));
                // a width that is no whole number of 16-byte packs takes the kernels' element-wise path
                var (narrow, narrowDelta, narrowWeight) = (randn([rows, 1, 30], dtype, device), randn([rows, 1, 30], dtype, device), randn([30], dtype, device));
                (fusedSum, fusedNormed) = LayerKernels.Fused.AddRmsNorm(narrow, narrowDelta, narrowWeight, 1e-5);
                (sum, normed) = LayerKernels.Torch.AddRmsNorm(narrow, narrowDelta, narrowWeight, 1e-5);
                yield return Case("add_rms_norm (unpacked)", Math.Max(Error(fusedSum, sum), Error(fusedNormed, normed)));
                yield return Case("silu_and_mul (unpacked)", Error(LayerKernels.Fused.SiluAndMul(narrow), LayerKernels.Torch.SiluAndMul(narrow)));

                // rotary on head views of a fused QKV projection, as the model applies it
                var qkv = randn([rows, 1, (heads + 2 * kvHeads) * d], dtype, device);
                var angles = rand([rows, 1, 1, d], ScalarType.Float32, device) * Scalars.Of(6.28);
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

                // INT8 rows: the same codes and parameters as the store's TorchSharp quantisation
                var int8 = new KvPoolTensors(zeros([4 * rows, kvHeads, d], ScalarType.Byte, device), zeros([4 * rows, kvHeads, d], ScalarType.Byte, device),
                    zeros([4 * rows, kvHeads, 2], ScalarType.Float16, device), zeros([4 * rows, kvHeads, 2], ScalarType.Float16, device));
                KvWriteKernel.RunInt8(int8, key, value, slots);
                var (keyCodes, keyParams) = Int8KvLayerStore.Quantize(keyRows.index_select(0, slots));
                var (valueCodes, valueParams) = Int8KvLayerStore.Quantize(valueRows.index_select(0, slots));
                long codeMismatches = int8.Keys.index_select(0, slots).ne(keyCodes).sum().item<long>() + int8.Values.index_select(0, slots).ne(valueCodes).sum().item<long>();
                double paramError = Math.Max(Error(int8.KeyParams!.index_select(0, slots), keyParams), Error(int8.ValueParams!.index_select(0, slots), valueParams));
                // a code may differ by one where fp rounding sits on a .5 boundary; count them relative to all codes (the
                // reference quantises in the rows' dtype: bf16's 8-bit mantissa puts more rows next to a boundary)
                double int8Error = Math.Max(paramError, (double)codeMismatches / (2 * rows * kvHeads * d));
                double int8Tolerance = dtype == ScalarType.BFloat16 ? 5e-3 : 1e-3;
                yield return new FusedCase("kv_write_int8", name, shape, int8Error, int8Tolerance, int8Error <= int8Tolerance);
            }
    }

    /// <summary>The same requests through an eager and a graph engine (fp32): "greedy"; "mixed" = every other request
    /// under SWA 50% and shorter (steps with it fall back to eager, then the graph takes over); "sampled" = seeded
    /// temperature / top-p sampling; "swa", "swa-int8", "h2o" = every request under that policy at 50% (the sparse
    /// graphs: selection and score upkeep on the device), INT8 KV for "swa-int8"; "swa-tiered" (and "-int8"): SWA with
    /// every block older than 16 tokens on the CPU tier, read by the eager step in place (no hot set) and by the graph
    /// through the GPU hot set; "swa-summaries": SWA 50% with page summaries, the graph's kernels against the TorchSharp
    /// attention of a CPU engine (on CUDA the eager step runs the kernels too). Not under INT8: CPU and GPU rows round to
    /// different codes now and then, and every left-out token reaches the summaries, so greedy tokens part ways
    /// (PageSummariesCheck compares the INT8 kernels with their reference on identical rows instead).</summary>
    private static async Task<StepCase> CompareSteps(string folder, int batch, int capacity, string requests)
    {
        using var model = LoadedModel.FromCheckpoint(folder, DeviceChoice.Parse("cuda", "fp32"));
        bool summaries = requests == "swa-summaries";
        using var reference = summaries ? LoadedModel.FromCheckpoint(folder, DeviceChoice.Parse("cpu", "fp32")) : null;
        var policy = KvPolicy.Parse(summaries ? "swa:0.5:summaries" : "swa:0.5");
        var prompts = Enumerable.Range(0, batch).Select(i => model.Tokenizer.Encode(string.Join(" ", Enumerable.Repeat("In the beginning God created", 1 + i % 4)))).ToArray();
        GenerationRequest Request(int i) => requests switch
        {
            "mixed" when i % 2 == 1 => new($"r{i}", prompts[i], SamplingParams.Greedy(24) with { IgnoreEos = true }) { Policy = KvPolicy.Parse("swa:0.5") },
            "sampled" => new($"r{i}", prompts[i], new SamplingParams { Temperature = 0.8, TopP = 0.9, MaxTokens = 48, Seed = i, IgnoreEos = true }),
            _ when requests.StartsWith("swa") => new($"r{i}", prompts[i], SamplingParams.Greedy(48) with { IgnoreEos = true }) { Policy = policy },
            "h2o" => new($"r{i}", prompts[i], SamplingParams.Greedy(48) with { IgnoreEos = true }) { Policy = KvPolicy.Parse("h2o:0.5") },
            _ => new($"r{i}", prompts[i], SamplingParams.Greedy(48) with { IgnoreEos = true }),
        };
        bool tiered = requests.StartsWith("swa-tiered");
        async Task<(List<GenerationEvent>[] Events, long Preemptions)> Run(DecodeStepKind kind, LoadedModel on)
        {
            await using var engine = new InferenceEngine(on, new EngineOptions
            {
                KvCapacityTokens = capacity, MaxBatchSize = 8, DecodeStep = kind,
                KvFormat = requests.EndsWith("int8") ? KvStorageFormat.Int8 : KvStorageFormat.Native,
                DefaultPolicy = requests.StartsWith("swa") ? policy : KvPolicy.Dense,
                EnablePageSummaries = summaries,
                CpuKvCapacityTokens = tiered ? 4096 : 0,
                TierPlan = tiered ? new KvTierPlan(16, int.MaxValue, 1, 0, 16) : null,
                HotSet = kind == DecodeStepKind.Graph,
            });
            var events = await Task.WhenAll(prompts.Select((_, i) => engine.GenerateAsync(Request(i)).ToListAsync().AsTask()));
            if (kind == DecodeStepKind.Graph && engine.Stats.DecodeStep != "cuda-graph") throw new InvalidOperationException("the graph step was not used");
            if (tiered && kind == DecodeStepKind.Graph && engine.ReadHotSet().Entries == 0) throw new InvalidOperationException("the hot set was not used");
            return (events, engine.Stats.Preemptions);
        }
        var eager = await Run(DecodeStepKind.Eager, reference ?? model);
        var graph = await Run(DecodeStepKind.Graph, model);
        int mismatches = 0, tokens = 0;
        double delta = 0;
        for (int i = 0; i < batch; i++)
            foreach (var (e, g) in eager.Events[i].Zip(graph.Events[i]))
            {
                tokens++;
                if (e.TokenId != g.TokenId) mismatches++;
                else delta = Math.Max(delta, Math.Abs(e.Logprob - g.Logprob));
            }
        // the hot set attends listed entries in slot order, not list order: under INT8 the last-bit differences can
        // flip a quantisation code of a later token, which moves logprobs by up to ~1e-3 (tokens must still agree)
        // summaries: CPU against GPU arithmetic, and the sums accumulated in another order
        double tolerance = tiered && requests.EndsWith("int8") ? 2e-3 : summaries ? 1e-3 : 1e-4;
        return new StepCase(Path.GetFileName(folder), "fp32", requests, batch, capacity, tokens, mismatches, delta, tolerance, graph.Preemptions,
            mismatches == 0 && delta <= tolerance);
    }
}
