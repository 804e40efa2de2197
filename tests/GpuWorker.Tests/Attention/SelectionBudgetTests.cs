using AlisaCluster.GpuWorker.Attention;

namespace AlisaCluster.GpuWorker.Tests.Attention;

public sealed class SelectionBudgetTests
{
    [Theory]
    [InlineData(100, 0.8)]
    [InlineData(1, 0.9)]
    [InlineData(7, 0.5)]
    [InlineData(1023, 0.7)]
    public void SwaKeepsKRecentAndAtMostKGlobal(int n, double sparsity)
    {
        var budget = SelectionBudget.For(new KvPolicy(KvPolicyKind.Swa, sparsity), n);
        int k = Math.Max(1, (int)Math.Round(n * (1 - sparsity) / 2));
        Assert.Equal(k, budget.Recent);
        Assert.Equal(Math.Min(k, n - k), budget.Global);
        Assert.Equal(k, budget.ScoreWindow);
        Assert.True(budget.MaxSelected <= n);
    }

    [Theory]
    [InlineData("swa:0.8:pyramid", 6)]
    [InlineData("local:0.8:pyramid=0.3", 6)]
    [InlineData("h2o:0.7:pyramid=1", 4)]
    [InlineData("swa:0.8:per-head:summaries:pyramid", 32)]
    public void APyramidGivesLowerLayersMoreAndKeepsTheTotalAndTheScoreWindow(string text, int layers)
    {
        const int n = 1000;
        var policy = KvPolicy.Parse(text);
        var flat = SelectionBudget.For(policy, n); // one layer: the flat share
        Assert.Equal(Math.Round(n * policy.TokenRatio), flat.MaxSelected, 0);
        var budgets = Enumerable.Range(0, layers).Select(l => SelectionBudget.For(policy, n, l, layers: layers)).ToArray();
        for (int l = 1; l < layers; l++) Assert.True(budgets[l].MaxSelected < budgets[l - 1].MaxSelected, $"layer {l}");
        Assert.Equal(Math.Round(n * policy.TokenRatio * (1 + policy.PyramidSlope)), budgets[0].MaxSelected, 0);
        Assert.Equal(Math.Max(1, Math.Round(n * policy.TokenRatio * (1 - policy.PyramidSlope))), budgets[^1].MaxSelected, 0);
        Assert.InRange(budgets.Average(b => b.MaxSelected), flat.MaxSelected - 1, flat.MaxSelected + 1); // the same total (rounding apart)
        Assert.All(budgets, b => Assert.Equal(flat.ScoreWindow, b.ScoreWindow));
        Assert.Equal(budgets[0], SelectionBudget.For(policy, n, 0, layers: 2)); // the lowest layer reads the most at any depth
        Assert.Equal(budgets[0].Global > 0 ? budgets[0].Sinks + budgets[0].Global : 0, SelectionBudget.MaxListed(policy, n)); // hot slots
    }

    [Fact]
    public void AnInvertedPyramidGivesHigherLayersMore()
    {
        var policy = KvPolicy.Parse("swa:0.8:pyramid=-0.5");
        var lowest = SelectionBudget.For(policy, 1000, 0, layers: 6);
        var highest = SelectionBudget.For(policy, 1000, 5, layers: 6);
        Assert.Equal(100, lowest.MaxSelected);
        Assert.Equal(300, highest.MaxSelected);
        Assert.Equal(highest.Sinks + highest.Global, SelectionBudget.MaxListed(policy, 1000)); // hot slots for the largest layer
    }

    [Theory]
    [InlineData("swa:0.8:pyramid", "swa:0.8:pyramid=0.5")]
    [InlineData("streaming:0.9:pyramid=0.25", "streaming:0.9:pyramid=0.25")]
    public void APyramidParsesAndPrints(string text, string printed) => Assert.Equal(printed, KvPolicy.Parse(text).ToString());

    [Theory]
    [InlineData("swa:0.8:pyramid=1.5", "slope must be in [-1, 1]")]
    [InlineData("swa:0.8:pyramid=steep", "slope must be a number")]
    [InlineData("quest:0.8:pyramid", "unknown option 'pyramid'")]
    public void ABadPyramidIsRefusedByName(string text, string message)
    {
        var error = Assert.Throws<ArgumentException>(() => KvPolicy.Parse(text));
        Assert.Equal("kv_policy", error.ParamName);
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void RoundingIsHalfToEven()
    {
        // n * r = 2.5 -> b = 2 (not 3); n * r / 2 = 1.25 -> k = 1
        var local = SelectionBudget.For(new KvPolicy(KvPolicyKind.Local, 0.5), 5);
        Assert.Equal(2, local.Recent);
        var swa = SelectionBudget.For(new KvPolicy(KvPolicyKind.Swa, 0.5), 5);
        Assert.Equal(1, swa.Recent);
    }

    [Fact]
    public void StreamingKeepsFourSinksAndTheRestRecent()
    {
        var budget = SelectionBudget.For(new KvPolicy(KvPolicyKind.Streaming, 0.8), 100); // b = 20
        Assert.Equal(4, budget.Sinks);
        Assert.Equal(16, budget.Recent);
        Assert.Equal(0, budget.Global);
    }

    [Fact]
    public void H2OSplitsItsBudgetBetweenRecentAndHeavyHitters()
    {
        var budget = SelectionBudget.For(new KvPolicy(KvPolicyKind.H2O, 0.5), 12); // b = 6, k = 3
        Assert.Equal(3, budget.Recent);
        Assert.Equal(3, budget.Global);
    }

    [Fact]
    public void DenseAndZeroSparsityAttendToEverything()
    {
        Assert.Equal(50, SelectionBudget.For(KvPolicy.Dense, 50).Recent);
        Assert.Equal(50, SelectionBudget.For(new KvPolicy(KvPolicyKind.Swa, 0), 50).Recent);
    }

    [Theory]
    [InlineData("swa:0.8", KvPolicyKind.Swa, 0.8)]
    [InlineData("h2o:0.5", KvPolicyKind.H2O, 0.5)]
    [InlineData("dense", KvPolicyKind.Dense, 0)]
    public void PoliciesParseAndPrintBack(string text, KvPolicyKind kind, double sparsity)
    {
        var policy = KvPolicy.Parse(text);
        Assert.Equal(kind, policy.Kind);
        Assert.Equal(sparsity, policy.Sparsity);
        Assert.Equal(text, policy.ToString());
    }

    [Theory]
    [InlineData("sparse:0.5")]
    [InlineData("swa")]
    [InlineData("swa:1.5")]
    [InlineData("local:0.5:sinks=4")]
    public void BadPoliciesAreRejected(string text) => Assert.Throws<ArgumentException>(() => KvPolicy.Parse(text));
}
