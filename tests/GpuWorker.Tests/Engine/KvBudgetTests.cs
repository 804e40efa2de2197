using AlisaCluster.GpuWorker.Engine;
using AlisaCluster.GpuWorker.Kv;

namespace AlisaCluster.GpuWorker.Tests.Engine;

/// <summary>The KV pool sized from a memory budget (vLLM's gpu_memory_utilization) fills the budget with what the
/// engine really allocates: never more, and within a few blocks of it.</summary>
[Collection(TinyModelCollection.Name)]
public sealed class KvBudgetTests(TinyModels models)
{
    private const long Headroom = 64L << 20;

    public static TheoryData<string, KvStorageFormat, bool, int> Cases => new()
    {
        { "tiny-llama", KvStorageFormat.Native, false, 0 },
        { "tiny-llama", KvStorageFormat.Int8, false, 0 },
        { "tiny-llama", KvStorageFormat.Native, true, 0 },
        { "tiny-llama", KvStorageFormat.Native, false, 4096 },
        { "tiny-opt", KvStorageFormat.Native, false, 0 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task The_pool_sized_from_a_budget_fills_it_without_passing_it(string name, KvStorageFormat format, bool perHead, int cpuTokens)
    {
        var model = models.Get(name);
        var options = new EngineOptions { KvFormat = format, PerHeadScores = perHead, CpuKvCapacityTokens = cpuTokens };
        long budget = model.Model.ParameterBytes + KvBudget.ReserveBytes + Headroom;
        int tokens = KvBudget.TokensForBudget(model.Config, model.Model.ElementSize, model.Model.ParameterBytes, options, budget);
        await using var engine = new InferenceEngine(model, options with { KvCapacityTokens = tokens });

        long used = model.Model.ParameterBytes + KvBudget.ReserveBytes + engine.KvPoolBytes;
        double perToken = (double)engine.KvPoolBytes / (tokens + cpuTokens);
        Assert.True(used <= budget, $"{used} bytes allocated for a budget of {budget}");
        Assert.True(budget - used < 4 * options.BlockSize * perToken * 2, $"{budget - used} bytes of the budget left unused");
    }

    [Fact]
    public void A_budget_below_the_weights_is_refused_with_the_sizes()
    {
        var model = models.Get("tiny-llama");
        var error = Assert.Throws<ArgumentException>(() =>
            KvBudget.TokensForBudget(model.Config, model.Model.ElementSize, model.Model.ParameterBytes, new EngineOptions(), model.Model.ParameterBytes));
        Assert.Contains("leaves no room for KV", error.Message);
    }

    [Fact]
    public async Task The_cpu_tier_sized_in_GiB_allocates_that_much_pinned_memory()
    {
        var model = models.Get("tiny-llama");
        const double gib = 1.0 / 64;
        int cpuTokens = KvBudget.TokensInHostMemory(model.Config, model.Model.ElementSize, KvStorageFormat.Native, gib);
        await using var engine = new InferenceEngine(model, new EngineOptions { KvCapacityTokens = 1024, CpuKvCapacityTokens = cpuTokens });
        long target = (long)(gib * (1L << 30));
        long blockBytes = engine.CpuKvPoolBytes / (cpuTokens / 16 + 1);
        Assert.InRange(engine.CpuKvPoolBytes, target - 2 * blockBytes, target + 2 * blockBytes);
    }
}
