using AlisaCluster.GpuWorker.Kv;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Attention;

/// <summary>The attention entries of <see cref="KvPolicy.Summaries"/>: per sequence, KV head and page, the tokens the
/// selection left out as one entry, their mean key and mean value, whose logit carries log(count) so that the entry
/// weighs as that many tokens of the mean key would. The sums come from <see cref="PageSummaries"/>, less what the
/// selection reads itself, so no token is counted twice.</summary>
public static class SummaryEntries
{
    /// <summary>Logits [B, KvH, G, P] (already scaled) and mean values [B, KvH, P, D] of the summary entries, or null
    /// when no row of the step asks for them; rows that do not ask get entries of no weight.</summary>
    /// <param name="query">[B, KvH, G, D] fp32</param>
    /// <param name="positions">[B, KvH, M] positions the selection reads, of which <paramref name="read"/> marks the real ones</param>
    /// <param name="keys">[B, KvH, M, D] fp32 keys of those positions; <paramref name="values"/> likewise</param>
    public static (Tensor Logits, Tensor Values)? Of(KvCache cache, int layer, SparseStep step, Tensor query, Tensor readSlots,
        Tensor positions, Tensor read, Tensor keys, Tensor values)
    {
        if (!step.Policies.Any(p => p.NeedsPageSummaries)) return null;
        var summaries = cache.PageSummaries ?? throw new InvalidOperationException("summaries need the KV cache's page summaries");
        using var scope = NewDisposeScope();
        long b = keys.shape[0], kvHeads = keys.shape[1], m = keys.shape[2], d = keys.shape[3], l = readSlots.shape[1];
        long size = cache.BlockSize, pages = (l + size - 1) / size;
        var device = readSlots.device;
        var pageStart = Scalars.Arange(pages, device) * Scalars.Of(size);
        var blocks = KvCache.PageBlocks(readSlots, cache.BlockSize, pages);
        var (keySums, valueSums) = summaries.Of(layer);
        // what the selection already reads, per page
        var page = positions.floor_divide(Scalars.Of(size));                                             // [B, KvH, M]
        var taken = read.to(ScalarType.Float32);
        var takenCount = zeros([b, kvHeads, pages], ScalarType.Float32, device).scatter_add(2, page, taken);
        var rowPage = page.unsqueeze(-1).expand(b, kvHeads, m, d);
        Tensor Rest(Tensor sums, Tensor rows) => sums.index_select(0, blocks).view(b, pages, kvHeads, d).permute(0, 2, 1, 3)
            .sub(zeros([b, kvHeads, pages, d], ScalarType.Float32, device).scatter_add(2, rowPage, rows * taken.unsqueeze(-1)));
        var (restKeys, restValues) = (Rest(keySums, keys), Rest(valueSums, values));                     // [B, KvH, P, D]
        // tokens a page holds below the row's length, less those read; rows without summaries leave none
        var filled = step.Lengths.view(b, 1).to(ScalarType.Float32).sub(pageStart.view(1, pages)).clamp(Scalars.Of(0f), Scalars.Of((float)size));
        var asks = tensor(step.Policies.Select(p => p.NeedsPageSummaries).ToArray(), device: device).view(b, 1, 1);
        var count = filled.unsqueeze(1).sub(takenCount).clamp_min(Scalars.Of(0f)).masked_fill(asks.logical_not(), Scalars.Of(0f));
        var denominator = count.clamp_min(Scalars.Of(1f)).unsqueeze(-1);
        var meanKeys = restKeys / denominator;
        var meanValues = restValues / denominator;
        // log(0) = -inf: an empty page never weighs
        var logits = (query.matmul(meanKeys.transpose(2, 3)) / Scalars.Of(Math.Sqrt(d))).add(count.log().unsqueeze(2), Scalars.One);
        return (logits.MoveToOuterDisposeScope(), meanValues.MoveToOuterDisposeScope());
    }
}
