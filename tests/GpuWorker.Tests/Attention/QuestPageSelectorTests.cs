using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Kv;
using AlisaCluster.GpuWorker.Native;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Tests.Attention;

/// <summary>Quest's page selection against a brute-force reference on random keys and queries.</summary>
public sealed class QuestPageSelectorTests
{
    private const int KvHeads = 2, Group = 2, HeadDim = 8, BlockSize = 16;

    /// <summary>A cache holding random keys for every position of sequences of the given lengths, and a decode batch
    /// in which each sequence feeds its last position (already written, as SparseAttention writes before selecting).</summary>
    private static (KvCache Cache, AttentionBatch Batch, List<SequenceKv> Sequences) Setup(KvPolicy policy, int[] lengths, KvStorageFormat format = KvStorageFormat.Native)
    {
        var cache = new KvCache(1, KvHeads, HeadDim, blockCount: 32, BlockSize, ScalarType.Float32, CPU, format, pageBounds: true);
        var sequences = lengths.Select(n =>
        {
            var kv = cache.CreateSequence();
            Assert.True(cache.TryReserve(kv, n));
            for (int t = 0; t < n; t++)
            {
                using var batch = new AttentionBatch(cache, [kv], 1, CPU);
                using var key = randn(1, KvHeads, HeadDim).add(Scalars.Of((t % 7) * 0.3), Scalars.One);
                cache.Write(0, batch.Write, key, key);
                batch.CommitLengths();
            }
            kv.Length = n - 1;
            kv.Policy = policy;
            return kv;
        }).ToList();
        return (cache, new AttentionBatch(cache, sequences, 1, CPU), sequences);
    }

    /// <summary>Keys of one sequence as read back [n, KvH, D].</summary>
    private static float[,,] Keys(KvCache cache, SequenceKv sequence, int n)
    {
        using var slots = tensor(Enumerable.Range(0, n).Select(sequence.SlotOf).ToArray());
        var (keys, values) = cache.Gather(0, slots);
        using (values) using (keys)
        {
            var flat = keys.data<float>().ToArray();
            var result = new float[n, KvHeads, HeadDim];
            Buffer.BlockCopy(flat, 0, result, 0, flat.Length * sizeof(float));
            return result;
        }
    }

    /// <summary>sum_d max(q_d min_d, q_d max_d) over the page's keys, per query head, computed one key at a time (for
    /// a page of one token: q.k itself).</summary>
    private static double BruteBound(float[,,] keys, float[] q, int kvHead, int page, int n, int pageSize = BlockSize)
    {
        double sum = 0;
        for (int d = 0; d < HeadDim; d++)
        {
            var column = Enumerable.Range(page * pageSize, Math.Min(pageSize, n - page * pageSize)).Select(t => keys[t, kvHead, d]).ToList();
            sum += Math.Max(q[d] * column.Min(), q[d] * column.Max());
        }
        return sum;
    }

    /// <summary>softmax(logits / sqrt(D))[at].</summary>
    private static double Weight(List<double> logits, int at)
    {
        double max = logits.Max(), sum = logits.Sum(x => Math.Exp((x - max) / Math.Sqrt(HeadDim)));
        return Math.Exp((logits[at] - max) / Math.Sqrt(HeadDim)) / sum;
    }

    private static float[] QueryOf(float[] query, int b, int head) => query.Skip((b * KvHeads * Group + head) * HeadDim).Take(HeadDim).ToArray();

    [Theory]
    [InlineData(KvStorageFormat.Native)]
    [InlineData(KvStorageFormat.Int8)]
    public void UpperBoundIsAtLeastEveryTrueLogitOfThePageAndMatchesTheBruteForceBound(KvStorageFormat format)
    {
        random.manual_seed(5);
        int[] lengths = [70, 45];
        var (cache, batch, sequences) = Setup(KvPolicy.Parse("quest:0.5"), lengths, format);
        using var _ = cache;
        using var __ = batch;
        using var query = randn(lengths.Length, KvHeads * Group, 1, HeadDim);
        long pageCount = (batch.KeyLength + BlockSize - 1) / BlockSize;
        using var upper = QuestPageSelector.UpperBounds(cache.PageBounds!, 0, query, batch.ReadSlots, BlockSize, pageCount); // [B, KvH, G, P]
        var q = query.data<float>().ToArray();
        for (int b = 0; b < lengths.Length; b++)
        {
            var keys = Keys(cache, sequences[b], lengths[b]);
            for (int h = 0; h < KvHeads; h++)
            for (int g = 0; g < Group; g++)
            for (int page = 0; page * BlockSize < lengths[b]; page++)
            {
                var qh = QueryOf(q, b, h * Group + g);
                double bound = upper[b, h, g, page].item<float>();
                Assert.Equal(BruteBound(keys, qh, h, page, lengths[b]), bound, 4);
                for (int t = page * BlockSize; t < Math.Min(lengths[b], (page + 1) * BlockSize); t++)
                {
                    double dot = Enumerable.Range(0, HeadDim).Sum(d => (double)qh[d] * keys[t, h, d]);
                    Assert.True(bound >= dot - 1e-4, $"row {b} head {h}.{g} page {page}: bound {bound} < q.k {dot} at position {t}");
                }
            }
        }
    }

    [Theory]
    [InlineData("quest:0.7")]
    [InlineData("quest:0.8:local=0.25:sinks=4")]
    [InlineData("quest:0.7:tokens")]
    [InlineData("quest:0.8:local=0.25:sinks=4:tokens")]
    public void SelectionEqualsTheExhaustiveTopPagesPlusWindowAndSinks(string policyText)
    {
        random.manual_seed(7);
        var policy = KvPolicy.Parse(policyText);
        int page = QuestPageSelector.PageOf(policy, BlockSize);
        int[] lengths = [150, 97, 33];
        var (cache, batch, sequences) = Setup(policy, lengths);
        using var _ = cache;
        using var __ = batch;
        using var step = new SparseStep(batch, null, CPU);
        using var query = randn(lengths.Length, KvHeads * Group, 1, HeadDim);
        using var selection = QuestPageSelector.Select(0, step, null, cache, query, batch.ReadSlots);
        using var mask = selection.ToMask(batch.KeyLength).expand(lengths.Length, KvHeads, batch.KeyLength);
        var q = query.data<float>().ToArray();
        // what the attention kernel reads of the same selection (sinks, listed positions, recent range)
        using var listed = selection.Listed!.to(ScalarType.Int32);
        using var lengthsOf = step.Lengths.view(-1);
        var entries = PagedDecodeAttentionReference.Entries(lengthsOf, KvHeads, new AttentionSelection(selection.Segments, listed));
        for (int b = 0; b < lengths.Length; b++)
        {
            int n = lengths[b];
            var split = QuestPageSelector.SplitOf(policy, SelectionBudget.For(policy, n), BlockSize);
            int budget = Math.Max(1, (int)Math.Round(n * policy.CachingRatio));
            Assert.Equal(budget, split.Window + split.Sinks + split.Pages * page);
            var keys = Keys(cache, sequences[b], n);
            for (int h = 0; h < KvHeads; h++)
            {
                // candidates: pages with a position outside the window and the sinks; the best by the largest bound in the group
                var candidates = Enumerable.Range(0, (n + page - 1) / page).Where(p => p * page < n - split.Window && (p + 1) * page > split.Sinks).ToList();
                // pages by the largest bound in the group; single tokens by the group's attention weight over the candidates
                double Score(int p) => policy.ExactTokens
                    ? Enumerable.Range(0, Group).Sum(g => Weight(candidates.Select(c => BruteBound(keys, QueryOf(q, b, h * Group + g), h, c, n, page)).ToList(), candidates.IndexOf(p)))
                    : Enumerable.Range(0, Group).Max(g => BruteBound(keys, QueryOf(q, b, h * Group + g), h, p, n, page));
                var chosen = candidates.OrderByDescending(Score)
                    .Take(split.Pages).ToHashSet();
                var expected = Enumerable.Range(0, batch.KeyLength)
                    .Select(t => t < n && (t >= n - split.Window || t < split.Sinks || chosen.Contains(t / page))).ToArray();
                var actual = mask[b, h].data<bool>().ToArray();
                Assert.Equal(expected, actual);
                Assert.Equal(Enumerable.Range(0, batch.KeyLength).Where(t => expected[t]).Select(t => (long)t), entries[b][h].Order()); // each once
                Assert.True(actual.Count(x => x) <= budget, $"row {b} head {h}: {actual.Count(x => x)} positions over the budget of {budget}");
            }
        }
    }

    [Fact]
    public void RowsOfAMixedBatchSelectAsInABatchOfTheirOwnPolicy()
    {
        string[] policies = ["quest:0.8:ada", "quest:0.7:tokens", "quest:0.8:local=0.25:sinks=4:tokens", "quest:0.7"];
        int[] lengths = [150, 97, 33, 64];
        bool[] Mask(Func<int, string> policyOf, int row)
        {
            random.manual_seed(11);
            var (cache, batch, sequences) = Setup(KvPolicy.Dense, lengths);
            using var _ = cache;
            using var __ = batch;
            for (int b = 0; b < lengths.Length; b++) sequences[b].Policy = KvPolicy.Parse(policyOf(b));
            using var step = new SparseStep(batch, null, CPU);
            using var query = randn(lengths.Length, KvHeads * Group, 1, HeadDim);
            using var selection = QuestPageSelector.Select(0, step, null, cache, query, batch.ReadSlots);
            using var mask = selection.ToMask(batch.KeyLength).expand(lengths.Length, KvHeads, batch.KeyLength);
            return mask[row].data<bool>().ToArray();
        }
        for (int row = 0; row < policies.Length; row++)
            Assert.Equal(Mask(_ => policies[row], row), Mask(b => policies[b], row));
    }

    [Fact]
    public void AdaptiveHeadsSpendTheSameTotalOfPages()
    {
        random.manual_seed(9);
        var policy = KvPolicy.Parse("quest:0.8:ada");
        var (cache, batch, _) = Setup(policy, [300]);
        using var _c = cache;
        using var _b = batch;
        using var step = new SparseStep(batch, null, CPU);
        using var query = randn(1, KvHeads * Group, 1, HeadDim).mul(Scalars.Of(3L));
        using var selection = QuestPageSelector.Select(0, step, null, cache, query, batch.ReadSlots);
        using var mask = selection.ToMask(batch.KeyLength);
        var budget = SelectionBudget.For(policy, 300);
        var split = QuestPageSelector.SplitOf(policy, budget, BlockSize);
        Assert.Equal(300, budget.MaxSelected); // the attention's compaction keeps room for a head that takes many pages
        // the window's tokens per head plus, over both heads, pages x KV heads whole pages outside it
        int outside = Enumerable.Range(0, KvHeads).Sum(h => mask[0, h].data<bool>().ToArray().Take(300 - split.Window).Count(x => x));
        Assert.True(split.Pages > 0);
        // (a chosen page may reach into the window: at most one per head)
        Assert.True(outside <= split.Pages * KvHeads * BlockSize && outside >= (split.Pages - 1) * KvHeads * BlockSize,
            $"{outside} positions outside the window for {split.Pages} x {KvHeads} pages");
    }

    [Theory]
    [InlineData("quest:0.8", "quest:0.8")]
    [InlineData("QUEST:0.9:local=0.25:sinks=4:ada", "quest:0.9:sinks=4:local=0.25:ada")]
    [InlineData("quest:0.5:local=0", "quest:0.5")]
    [InlineData("quest:0.8:Tokens:local=0.5", "quest:0.8:local=0.5:tokens")]
    public void ParsesAndPrintsQuestPolicies(string text, string printed)
    {
        var policy = KvPolicy.Parse(text);
        Assert.Equal(KvPolicyKind.Quest, policy.Kind);
        Assert.Equal(printed, policy.ToString());
        Assert.Equal(policy, KvPolicy.Parse(printed));
        Assert.True(policy.RanksByQuery);
        Assert.Equal(!policy.ExactTokens, policy.NeedsPageBounds); // an exact top-k reads the keys, not their bounds
        Assert.False(policy.NeedsWindowScores);
        Assert.False(SparseStep.CanCapture(policy)); // the graph step leaves Quest to the eager step
    }

    [Theory]
    [InlineData("quest", "give the KV sparsity")]
    [InlineData("quest:0.8:per-head", "unknown option 'per-head'")]
    [InlineData("quest:0.8:local=1.5", "local fraction must be in [0, 1]")]
    [InlineData("swa:0.8:ada", "unknown option 'ada'")]
    [InlineData("swa:0.8:tokens", "unknown option 'tokens'")]
    [InlineData("swa:0.8:local=0", "local fraction must be in (0, 1]")]
    public void RejectsBadQuestOptionsByName(string text, string message)
    {
        var error = Assert.Throws<ArgumentException>(() => KvPolicy.Parse(text));
        Assert.Contains(message, error.Message);
    }
}
