using AlisaCluster.GpuWorker.Attention;

namespace AlisaCluster.GpuWorker.Tests.Attention;

/// <summary>The learned split: its file, the policy option that takes it, and the budgets it gives each layer.</summary>
public sealed class LearnedSplitTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("alisa-split-").FullName;

    private static readonly LearnedSplit Split = new("test", [
        new(0.5, [[1.0, 0.5], [0.75, 0.625]]),
        new(0.8, [[0.875, 1.0], [0.5, 0.5]]),
    ]);

    [Fact]
    public void TheFileRoundTrips()
    {
        var path = Path.Combine(_folder, LearnedSplit.FileName);
        Split.Save(path);
        var loaded = LearnedSplit.FromModelFolder(_folder)!;
        Assert.Equal("test", loaded.Source);
        Assert.Equal([0.5, 0.8], loaded.Levels.Select(l => l.Sparsity));
        for (int s = 0; s < 2; s++)
            Assert.Equal(Split.Levels[s].Recent, loaded.Levels[s].Recent);
    }

    [Fact]
    public void AModelWithoutAFileHasNoSplitAndBadFilesAreRejected()
    {
        Assert.Null(LearnedSplit.FromModelFolder(_folder));
        var path = Path.Combine(_folder, "bad.json");
        (Split with { Levels = [new(0.8, [[1.5, 0.5]])] }).Save(path);
        Assert.Throws<InvalidDataException>(() => LearnedSplit.Load(path));
        (Split with { Levels = [] }).Save(path);
        Assert.Throws<InvalidDataException>(() => LearnedSplit.Load(path));
    }

    [Fact]
    public void TheLearnedOptionTakesTheNearestCalibratedSparsity()
    {
        var policy = KvPolicy.Parse("swa:0.7:per-head:learned", Split);
        Assert.Same(Split.Levels[1].Recent, policy.RecentFractions);           // 0.7 is nearer 0.8 than 0.5
        Assert.Equal("swa:0.7:per-head:learned", policy.ToString());
        Assert.Equal(0.875, policy.LocalFractionOf(0, 0));
    }

    [Theory]
    [InlineData("swa:0.8:per-head:learned", true)]   // no split given
    [InlineData("swa:0.8:learned", false)]           // one selection per layer cannot follow a per-head split
    [InlineData("local:0.8:learned", false)]
    public void TheLearnedOptionNeedsASplitAndPerHeadSwa(string text, bool withoutSplit) =>
        Assert.Throws<ArgumentException>(() => KvPolicy.Parse(text, withoutSplit ? null : Split));

    [Fact]
    public void EachLayerAndHeadGetsItsShareOfTheSameBudget()
    {
        var policy = KvPolicy.Parse("swa:0.5:per-head:learned", Split);
        const int n = 100;                                                      // b = 50, k = 25
        Assert.Equal((50, 0), Parts(SelectionBudget.For(policy, n, 0, 0)));  // share 1: plain local
        Assert.Equal((25, 25), Parts(SelectionBudget.For(policy, n, 0, 1)));
        Assert.Equal((38, 12), Parts(SelectionBudget.For(policy, n, 1, 0)));  // round(37.5) = 38 (half to even)
        Assert.Equal((31, 19), Parts(SelectionBudget.For(policy, n, 1, 1)));  // round(31.25) = 31
        Assert.All(new[] { (0, 0), (0, 1), (1, 0), (1, 1) }, p => Assert.Equal(25, SelectionBudget.For(policy, n, p.Item1, p.Item2).ScoreWindow));
    }

    [Fact]
    public void PlainPoliciesIgnoreTheLayer()
    {
        foreach (var text in new[] { "swa:0.8", "swa:0.8:per-head", "local:0.8", "h2o:0.8", "streaming:0.8" })
        {
            var policy = KvPolicy.Parse(text);
            Assert.Equal(SelectionBudget.For(policy, 333), SelectionBudget.For(policy, 333, 5, 1));
        }
    }

    private static (int Recent, int Global) Parts(SelectionBudget b) => (b.Recent, b.Global);

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
