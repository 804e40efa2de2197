using System.Text.Json;
using AlisaCluster.Cli.Commands;

namespace AlisaCluster.Cli.Tests.Commands;

public sealed class BenchCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("alisa-bench-").FullName;

    /// <summary>The tiny model under a KV budget too small for the batch: every mode runs to the end and reports what it
    /// did, the tiered mode with the cost model's plan and prediction (profiled once into the given file).</summary>
    [Fact]
    public async Task Every_kv_mode_finishes_the_batch_and_reports_its_plan()
    {
        string results = Path.Combine(_dir, "bench.jsonl"), profile = Path.Combine(_dir, "profile.json");
        string[] args = ["--batch", "4", "--prompt-len", "32", "--gen-len", "48", "--kv-mode", "gpu,offload,tiered", "--policy", "swa:0.8",
            "--kv-tokens", "256", "--cpu-mem-gib", "0.01", "--threads", "2", "--profile", profile, "--out", results];
        Assert.Equal(0, await BenchCommand.RunAsync(CommandLine.Parse(args)));

        var rows = File.ReadLines(results).Select(l => JsonSerializer.Deserialize<BenchCommand.Result>(l)!).ToList();
        Assert.Equal(["gpu", "offload", "tiered"], rows.Select(r => r.Mode));
        Assert.All(rows, r => Assert.True(r.GeneratedTokensPerSecond > 0 && r.Batch == 4 && r.GeneratedTokens == 48));
        Assert.True(rows[0].Preemptions > 0);                       // 4 x 81 tokens do not fit 256 GPU slots
        Assert.True(rows[1].BytesFetchedGiB > 0 && rows[1].Preemptions == 0); // offload reads the KV back every step
        Assert.NotNull(rows[2].PredictedStepMs);
        Assert.True(File.Exists(profile));
    }

    [Fact]
    public async Task A_forced_tier_plan_is_run_as_given_and_steps_in_turn_when_asked()
    {
        string results = Path.Combine(_dir, "forced.jsonl");
        string[] args = ["--batch", "2", "--prompt-len", "32", "--gen-len", "24", "--kv-mode", "tiered", "--policy", "swa:0.8", "--kv-tokens", "256",
            "--cpu-mem-gib", "0.01", "--threads", "2", "--profile", Path.Combine(_dir, "profile.json"), "--tier-plan", "31,never,1,0,16", "--no-async-scheduling", "--out", results];
        Assert.Equal(0, await BenchCommand.RunAsync(CommandLine.Parse(args)));
        var row = JsonSerializer.Deserialize<BenchCommand.Result>(File.ReadLines(results).Single())!;
        Assert.Equal("p1=31 alpha=1.00 p2=never beta=0.00 recent=16 (--tier-plan)", row.Plan);
        Assert.True(row.BytesOffloadedGiB > 0); // blocks older than the 16 recent tokens moved to the CPU
        Assert.False(row.AsyncScheduling);
    }

    [Theory]
    [InlineData("--tier-plan", "1,2,3", "KV tier plan '1,2,3'")]
    [InlineData("--hot-miss-rate", "1.5", "--hot-miss-rate: 1.5 is not in [0, 1]")]
    public async Task Bad_planning_options_are_refused_naming_them(string option, string value, string message)
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() => BenchCommand.RunAsync(CommandLine.Parse(["--kv-mode", "tiered", option, value])));
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public async Task Bench_report_merges_ours_and_transformers_lines_into_a_table_and_a_plot()
    {
        string ours = Path.Combine(_dir, "ours.jsonl"), hf = Path.Combine(_dir, "hf.jsonl"), outDir = Path.Combine(_dir, "report");
        var row = new BenchCommand.Result("llama2-7b (random weights)", "cuda", "Float16", "gpu", "dense", false, 24, 96, 8, 128, 512,
            "phase I only (all KV on the GPU)", 51.2, 80.05, 95.2, null, 2.5, 21398, 23, 10.4, 0, 12.5, 0, 0, 0, 0, 3.35, 28.4);
        await File.WriteAllTextAsync(ours, JsonSerializer.Serialize(row) + "\n" + JsonSerializer.Serialize(row with { Batch = 32, GeneratedTokensPerSecond = 341.5 }) + "\n");
        await File.WriteAllTextAsync(hf, """
            {"peer": "hf-transformers", "preset": "llama2-7b", "batch": 8, "prompt": 128, "gen": 512, "cache": "dynamic", "gpu_mem_gib": 24.0, "gen_tokens_per_s": 80.8}
            {"peer": "hf-transformers", "preset": "llama2-7b", "batch": 64, "prompt": 128, "gen": 512, "cache": "dynamic", "gpu_mem_gib": 24.0, "error": "out of GPU memory"}
            """);
        Assert.Equal(0, await BenchReportCommand.RunAsync(CommandLine.Parse(["--in", $"{ours},{hf}", "--out", outDir])));

        var table = await File.ReadAllTextAsync(Path.Combine(outDir, "throughput-llama2-7b.md"));
        Assert.Contains("| gpu dense 24G | 8 | 80.1 |", table);
        Assert.Contains("| gpu dense 24G | 32 | 341.5 |", table);
        Assert.Contains("| HF dynamic 24G | 8 | 80.8 |", table);
        Assert.StartsWith("<svg", (await File.ReadAllTextAsync(Path.Combine(outDir, "throughput-llama2-7b.svg"))).TrimStart());
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
