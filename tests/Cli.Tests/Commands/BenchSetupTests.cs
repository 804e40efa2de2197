using AlisaCluster.Cli.Commands;
using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Engine;
using AlisaCluster.GpuWorker.Model;

namespace AlisaCluster.Cli.Tests.Commands;

public sealed class BenchSetupTests
{
    /// <summary>Under a GPU budget the benchmark's pool is what the engine host would size for the same options: per-head
    /// SWA's score ring per KV head and the page summaries count (they once did not, and a 24 GiB run took 28 GiB).</summary>
    [Theory]
    [InlineData("swa:0.5")]
    [InlineData("swa:0.5:per-head")]
    [InlineData("swa:0.5:per-head:summaries")]
    [InlineData("quest:0.8")]
    public void A_budgeted_pool_counts_every_per_token_store(string policyText)
    {
        var model = LoadedModel.FromCheckpoint(ModelOptions.DefaultModelFolder, new DeviceChoice(TorchSharp.torch.CPU, TorchSharp.torch.ScalarType.Float32));
        long budget = model.Model.ParameterBytes + KvBudget.ReserveBytes + (64L << 20);
        var policy = KvPolicy.Parse(policyText);
        var setup = new BenchSetup(model, policy, int8: false, gpuBudgetGiB: budget / (double)(1L << 30), cpuBudgetGiB: 0)
            .For("gpu", batch: 64, promptLength: 512, generate: 512, costModel: null);
        int engineHost = KvBudget.TokensForBudget(model.Config, model.Model.ElementSize, model.Model.ParameterBytes, setup.Options, budget);
        Assert.InRange(setup.Options.KvCapacityTokens, engineHost * 0.99, engineHost * 1.01);
        Assert.True(setup.Options.KvCapacityTokens < 64 * 1024, "the budget, not the workload, bounds the pool");
    }
}
