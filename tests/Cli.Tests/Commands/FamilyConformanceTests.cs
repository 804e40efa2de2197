using System.Text.Json;
using AlisaCluster.Cli.Commands;

namespace AlisaCluster.Cli.Tests.Commands;

/// <summary>`alisa conformance` on the tiny checkpoint of every family (random init in the family's layout, references
/// from transformers: tools/make_family_checkpoints.py), and `alisa bench --load` on one of them.</summary>
public sealed class FamilyConformanceTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("alisa-family-").FullName;
    private static readonly string Models = Path.GetDirectoryName(ModelOptions.DefaultModelFolder)!;

    [Theory]
    [InlineData("tiny-llama3")]
    [InlineData("tiny-qwen2")]
    [InlineData("tiny-mistral")]
    [InlineData("tiny-phi3")]
    public async Task Conformance_passes_for_every_family(string model)
    {
        var report = Path.Combine(_dir, model + ".json");
        string[] args = ["--model", Path.Combine(Models, model), "--device", "cpu", "--dtype", "fp32", "--threads", "2", "--out", report];
        Assert.Equal(0, await ConformanceCommand.RunAsync(CommandLine.Parse(args)));
        using var json = JsonDocument.Parse(await File.ReadAllTextAsync(report));
        Assert.True(json.RootElement.GetProperty("TokenIdsMatch").GetBoolean());
        Assert.True(json.RootElement.GetProperty("GreedyCachedMatch").GetBoolean());
        Assert.True(json.RootElement.GetProperty("MaxLogitError").GetDouble() < 1e-3);
    }

    [Fact]
    public async Task Bench_load_reports_time_and_host_memory()
    {
        var results = Path.Combine(_dir, "load.jsonl");
        string[] args = ["--load", "--model", Path.Combine(Models, "tiny-qwen2"), "--device", "cpu", "--dtype", "bf16", "--out", results];
        Assert.Equal(0, await BenchCommand.RunAsync(CommandLine.Parse(args)));
        var row = JsonSerializer.Deserialize<LoadBench.Result>(File.ReadLines(results).Single())!;
        Assert.Equal("tiny-qwen2", row.Model);
        Assert.True(row.LoadSeconds > 0 && row.PeakAnonGiB > 0);
        Assert.Equal(row.CheckpointGiB / 2, row.WeightsGiB, 2); // float32 on disk, bf16 in memory
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
