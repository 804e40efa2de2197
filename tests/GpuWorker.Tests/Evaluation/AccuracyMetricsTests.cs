using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Evaluation;
using AlisaCluster.GpuWorker.Kv;

namespace AlisaCluster.GpuWorker.Tests.Evaluation;

/// <summary>Sparse decoding through the real decode path, against dense and against the independent reference.</summary>
[Collection(TinyModelCollection.Name)]
public sealed class AccuracyMetricsTests(TinyModels models)
{
    private static string Text(string name) => Path.Combine(RepoPaths.Root, "data", name);

    private List<int[]> Windows(string model, string text, int length, int count) =>
        HeldoutText.Windows(Text(text), models.Get(model).Tokenizer, 2, length).Take(count).ToList();

    [Fact]
    public void ProtocolCutsTheSameNumberOfWindowsAsTheReference()
    {
        var tokenizer = models.Get("tiny-llama").Tokenizer;
        Assert.Equal(21, HeldoutText.Windows(Text("heldout-kjv.txt"), tokenizer, 2, 1024).Count);
        Assert.Equal(22, HeldoutText.Windows(Text("heldout-fortunes.txt"), tokenizer, 2, 1024).Count);
    }

    [Fact]
    public void ASelectionThatKeepsEveryTokenGivesDensePerplexity()
    {
        var model = models.Get("tiny-llama").Model;
        var windows = Windows("tiny-llama", "heldout-kjv.txt", 128, 2);
        double dense = AccuracyMetrics.Perplexity(model, windows, KvPolicy.Dense, KvStorageFormat.Native, 8).Ppl;
        // sparsity 1e-9 keeps round(n * (1 - 1e-9)) = n tokens, but runs the sparse path (selection, gather, fp32 attention)
        double everything = AccuracyMetrics.Perplexity(model, windows, new KvPolicy(KvPolicyKind.Local, 1e-9), KvStorageFormat.Native, 8).Ppl;
        Assert.Equal(dense, everything, dense * 1e-5);
    }

    [Theory]
    [InlineData("tiny-llama", "swa")]
    [InlineData("tiny-opt", "swa")]
    [InlineData("tiny-opt", "h2o")]
    public void LowSparsityStaysCloseToDenseAndCostGrowsWithSparsity(string name, string policy)
    {
        var model = models.Get(name).Model;
        var windows = Windows(name, "heldout-fortunes.txt", 256, 2);
        double Ppl(KvPolicy p) => AccuracyMetrics.Perplexity(model, windows, p, KvStorageFormat.Native, 8).Ppl;
        double dense = Ppl(KvPolicy.Dense);
        double mild = Ppl(KvPolicy.Parse($"{policy}:0.2")), strong = Ppl(KvPolicy.Parse($"{policy}:0.8"));
        Assert.InRange(mild / dense, 0.99, 1.05);
        Assert.True(strong > mild, $"{policy}: 80% sparsity ({strong}) should cost more than 20% ({mild})");
    }

    [Fact]
    public void Int8CostsLittlePerplexity()
    {
        var model = models.Get("tiny-opt").Model;
        var windows = Windows("tiny-opt", "heldout-kjv.txt", 256, 2);
        var policy = KvPolicy.Parse("swa:0.8");
        double native = AccuracyMetrics.Perplexity(model, windows, policy, KvStorageFormat.Native, 8).Ppl;
        double int8 = AccuracyMetrics.Perplexity(model, windows, policy, KvStorageFormat.Int8, 8).Ppl;
        Assert.NotEqual(native, int8);
        Assert.InRange(Math.Abs(int8 / native - 1), 0, 0.01);
    }

    [Fact]
    public void GreedyAgreementIsCompleteForDenseAndHighForMildSparsity()
    {
        var model = models.Get("tiny-llama").Model;
        var prompts = Windows("tiny-llama", "heldout-kjv.txt", 96, 4);
        var continuations = AccuracyMetrics.GreedyContinuations(model, prompts, 16);
        Assert.Equal(1.0, AccuracyMetrics.GreedyAgreement(model, prompts, continuations, KvPolicy.Dense, KvStorageFormat.Native));
        Assert.InRange(AccuracyMetrics.GreedyAgreement(model, prompts, continuations, KvPolicy.Parse("swa:0.5"), KvStorageFormat.Native), 0.8, 1.0);
    }

    /// <summary>Full-size cases of DESIGN.md section 3 (all windows of 1024), against data/sparse-reference.jsonl.</summary>
    [Theory]
    [InlineData("tiny-llama", "heldout-kjv.txt", "swa:0.9", 45.2452)]
    [InlineData("tiny-opt", "heldout-fortunes.txt", "h2o:0.7", 82.8449)]
    public void ReproducesTheIndependentReferenceWithinHalfAPercent(string name, string text, string policy, double reference)
    {
        var model = models.Get(name).Model;
        var windows = HeldoutText.Windows(Text(text), models.Get(name).Tokenizer, 2, 1024);
        double ppl = AccuracyMetrics.Perplexity(model, windows, KvPolicy.Parse(policy), KvStorageFormat.Native, 32).Ppl;
        Assert.InRange(ppl / reference - 1, -0.005, 0.005);
    }
}
