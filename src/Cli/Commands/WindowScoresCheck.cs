using AlisaCluster.GpuWorker;
using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Native;
using static TorchSharp.torch;

namespace AlisaCluster.Cli.Commands;

/// <summary>native-check's cases for SWA's native window kernels: random stores, a ragged batch with steps leaving the
/// window, and attention logits over a selection (sinks, listed positions, a recent range; padding entries past each
/// row's count) go through slide (with its ranking) + record and through the TorchSharp ops they replace (reset, slide,
/// the weights from the logits scattered per position, record); history and sums must agree on every real slot (the
/// scratch slot that padding points at is left out), and the ranking with its definition over the slid sums. Three
/// layouts: shared scores and selection, per-head both (the ranking made in the slide's pass), per-head scores under
/// one selection per layer (the ranking's own launch); the first two also with an fp16 history ring (a 16-bit
/// model's), where a weight's rounding may differ by one fp16 step between the two. Where the selection groups are the
/// score groups, the fused slide + top-k launch, run on a third copy, must match slide + select_top exactly.</summary>
public static class WindowScoresCheck
{
    public static IEnumerable<NativeCheckCommand.FusedCase> Cases()
    {
        var device = new Device("cuda");
        foreach (var (perHeadScores, perHeadSelection, historyType) in new[] { (false, false, ScalarType.Float32), (true, true, ScalarType.Float32),
                     (true, false, ScalarType.Float32), (false, false, ScalarType.Float16), (true, true, ScalarType.Float16) })
        {
            using var scope = NewDisposeScope();
            const int slots = 96, kvHeads = 4, queryGroups = 2, ring = 7;
            long[] lengths = [20, 7, 13];
            int batch = lengths.Length, keyLength = 24, selectionGroups = perHeadSelection ? kvHeads : 1;
            var generator = new Random((perHeadScores ? perHeadSelection ? 2 : 3 : 1) + (historyType == ScalarType.Float16 ? 10 : 0));
            // each row owns distinct slots (never the scratch slot 0); past its length it points at the scratch slot
            var owned = Enumerable.Range(1, slots - 1).OrderBy(_ => generator.Next()).ToArray();
            var read = new long[batch * keyLength];
            for (int b = 0; b < batch; b++)
                for (int l = 0; l < lengths[b]; l++) read[b * keyLength + l] = owned[b * keyLength + l];
            var readSlots = tensor(read, [batch, keyLength], device: device);
            var lengthTensor = tensor(lengths, device: device);
            var columns = tensor(new long[] { 3, 0, 6 }, [batch, 1], device: device);
            var leaving = tensor(new long[] { 1, 2, -1, -1, 5, -1 }, [batch, 2], device: device);

            // a selection per (row, group): sinks, up to 3 listed positions between them and the recent range
            const int maxListed = 3;
            var segmentValues = new int[batch * selectionGroups * 3];
            var listedValues = new int[batch * selectionGroups * maxListed];
            var entryPositions = new List<int>[batch * selectionGroups];
            for (int b = 0; b < batch; b++)
                for (int s = 0; s < selectionGroups; s++)
                {
                    int length = (int)lengths[b], recentStart = generator.Next(1, length + 1), sinks = generator.Next(0, Math.Min(2, recentStart) + 1);
                    var listed = Enumerable.Range(sinks, recentStart - sinks).OrderBy(_ => generator.Next()).Take(generator.Next(maxListed + 1)).Order().ToArray();
                    int row = b * selectionGroups + s;
                    (segmentValues[row * 3], segmentValues[row * 3 + 1], segmentValues[row * 3 + 2]) = (sinks, listed.Length, recentStart);
                    listed.CopyTo(listedValues, row * maxListed);
                    entryPositions[row] = [.. Enumerable.Range(0, sinks), .. listed, .. Enumerable.Range(recentStart, length - recentStart)];
                }
            var selection = new AttentionSelection(tensor(segmentValues, [batch, selectionGroups, 3], device: device),
                tensor(listedValues, [batch, selectionGroups, maxListed], device: device));
            int entries = entryPositions.Max(p => p.Count) + 1;    // at least one padding entry in every row
            var logits = randn([batch, kvHeads * queryGroups, entries], device: device).mul_(Scalars.Of(2.0));
            var lse = logits.logsumexp(-1, false);

            int groups = perHeadScores ? kvHeads : 1;
            using var native = new TokenScores(1, slots, kvHeads, ring, perHeadScores, cumulative: false, device, historyType);
            using var reference = new TokenScores(1, slots, kvHeads, ring, perHeadScores, cumulative: false, device, historyType);
            var (history, sums) = native.WindowStores(0);
            history.copy_(rand(history.shape, device: device));
            sums.copy_(rand(sums.shape, device: device).mul_(Scalars.Of(3.0)));
            reference.WindowStores(0).History.copy_(history);
            reference.WindowStores(0).Sums.copy_(sums);

            // the fused launch on a third copy (where it serves): the same stores and the same top-k as slide + select_top
            using var fused = new TokenScores(1, slots, kvHeads, ring, perHeadScores, cumulative: false, device, historyType);
            fused.WindowStores(0).History.copy_(history);
            fused.WindowStores(0).Sums.copy_(sums);
            bool fuses = WindowScoresKernel.SelectsWhileSliding(fused, 0, selection.Segments);
            var fusedListed = fuses ? WindowScoresKernel.SlideAndTop(fused, 0, readSlots, lengthTensor, columns, leaving, selection.Segments, maxListed) : null;

            var ranking = WindowScoresKernel.Slide(native, 0, readSlots, lengthTensor, columns, leaving, selection.Segments)!;
            WindowScoresKernel.Record(native, 0, readSlots, lengthTensor, columns, logits, lse, selection, kvHeads);

            var fed = readSlots.gather(1, lengthTensor.sub(Scalars.Of(1L)).view(-1, 1)).view(-1);
            reference.Reset(0, fed);
            using var index = reference.IndexOf(readSlots, columns, leaving);
            reference.Slide(0, index);
            var expectedRanking = RankingOf(reference.WindowStores(0).Sums, readSlots, selection.Segments, perHeadScores && !perHeadSelection);

            // the reference weights: exp(logit - lse) summed over each KV head's query group, at the entries' positions
            var positions = new long[batch * kvHeads * entries];
            var present = new float[positions.Length];
            for (int b = 0; b < batch; b++)
                for (int h = 0; h < kvHeads; h++)
                {
                    var attended = entryPositions[b * selectionGroups + (perHeadSelection ? h : 0)];
                    for (int e = 0; e < attended.Count; e++) (positions[(b * kvHeads + h) * entries + e], present[(b * kvHeads + h) * entries + e]) = (attended[e], 1);
                }
            var weights = logits.sub(lse.unsqueeze(-1)).exp().view(batch, kvHeads, queryGroups, entries).sum(2)
                .mul(tensor(present, [batch, kvHeads, entries], device: device));
            var perPosition = zeros([batch, kvHeads, keyLength], ScalarType.Float32, device)
                .scatter_add(2, tensor(positions, [batch, kvHeads, entries], device: device), weights);
            reference.RecordWindow(0, index, (perHeadScores ? perPosition : perPosition.sum(1, keepdim: true)).unsqueeze(2));

            double Error(Tensor a, Tensor b) => a.narrow(-1, 1, slots - 1).to(ScalarType.Float32).sub(b.narrow(-1, 1, slots - 1).to(ScalarType.Float32)).abs().max().item<float>();
            double error = Math.Max(Error(history, reference.WindowStores(0).History), Error(sums, reference.WindowStores(0).Sums));
            double tolerance = historyType == ScalarType.Float16 ? 1e-3 : 1e-5;
            string shape = $"rows {batch}, slots {slots}, kv heads {kvHeads} x {queryGroups}, ring {ring}, {(perHeadScores ? "per-head" : "shared")} scores, "
                + $"{(perHeadSelection ? "per-head" : "one")} selection";
            yield return new NativeCheckCommand.FusedCase("window_scores", historyType.ToString(), shape, error, tolerance, error <= tolerance);

            bool sameCandidates = ranking.isinf().eq(expectedRanking.isinf()).all().item<bool>();
            double rankError = ranking.sub(expectedRanking).nan_to_num(0, 0, 0).abs().max().item<float>();
            yield return new NativeCheckCommand.FusedCase("window_ranking", historyType.ToString(), shape, rankError, 1e-5, sameCandidates && rankError <= 1e-5);

            if (fusedListed is null) continue;
            WindowScoresKernel.Record(fused, 0, readSlots, lengthTensor, columns, logits, lse, selection, kvHeads);
            var separateListed = WindowScoresKernel.Top(ranking, selection.Segments, maxListed);
            double fusedError = Math.Max(Error(fused.WindowStores(0).History, history), Error(fused.WindowStores(0).Sums, sums));
            bool sameListed = fusedListed.eq(separateListed).all().item<bool>();
            yield return new NativeCheckCommand.FusedCase("window_slide_select", historyType.ToString(), shape, sameListed ? fusedError : double.PositiveInfinity, 0,
                sameListed && fusedError == 0);
        }
    }

    /// <summary>The ranking's definition: window sums of positions sinks &lt;= l &lt; recent start (summed over the
    /// groups for one selection per layer over per-head sums), -inf elsewhere.</summary>
    private static Tensor RankingOf(Tensor sums, Tensor readSlots, Tensor segments, bool sumGroups)
    {
        long batch = readSlots.shape[0], keyLength = readSlots.shape[1];
        var window = sums.index_select(1, readSlots.view(-1)).view(-1, batch, keyLength).permute(1, 0, 2);   // [B, G, L]
        if (sumGroups) window = window.sum(1, keepdim: true);
        var position = Scalars.Arange(keyLength, readSlots.device).view(1, 1, -1);
        var parts = segments.to(ScalarType.Int64);
        var candidates = position.ge(parts.narrow(2, 0, 1)).logical_and(position.lt(parts.narrow(2, 2, 1)));
        return window.masked_fill(candidates.logical_not(), Scalars.NegativeInfinity);
    }
}
