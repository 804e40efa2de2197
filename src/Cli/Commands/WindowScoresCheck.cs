using AlisaCluster.GpuWorker;
using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Native;
using static TorchSharp.torch;

namespace AlisaCluster.Cli.Commands;

/// <summary>native-check's cases for SWA's native window kernels: random stores, a ragged batch with steps leaving the
/// window, and attention weights with padding entries go through slide + record and through the TorchSharp ops they
/// replace (reset, slide, scatter of the weights, record); history and sums must agree on every real slot (the
/// scratch slot that padding points at is left out). The ranking is compared with its definition.</summary>
public static class WindowScoresCheck
{
    public static IEnumerable<NativeCheckCommand.FusedCase> Cases()
    {
        var device = new Device("cuda");
        foreach (var perHead in new[] { false, true })
        {
            using var scope = NewDisposeScope();
            const int slots = 96, kvHeads = 4, ring = 7, entries = 6;
            long[] lengths = [20, 7, 13];
            int batch = lengths.Length, keyLength = 24;
            var generator = new Random(perHead ? 2 : 1);
            // each row owns distinct slots (never the scratch slot 0); past its length it points at the scratch slot
            var owned = Enumerable.Range(1, slots - 1).OrderBy(_ => generator.Next()).ToArray();
            var read = new long[batch * keyLength];
            for (int b = 0; b < batch; b++)
                for (int l = 0; l < lengths[b]; l++) read[b * keyLength + l] = owned[b * keyLength + l];
            var readSlots = tensor(read, [batch, keyLength], device: device);
            var lengthTensor = tensor(lengths, device: device);
            var columns = tensor(new long[] { 3, 0, 6 }, [batch, 1], device: device);
            var leaving = tensor(new long[] { 1, 2, -1, -1, 5, -1 }, [batch, 2], device: device);
            // entries: distinct positions per row (and head when per head), the last ones padding (weight 0, position 0)
            var positions = new long[batch * kvHeads * entries];
            var weightValues = new float[positions.Length];
            for (int b = 0; b < batch; b++)
                for (int h = 0; h < kvHeads; h++)
                {
                    var chosen = Enumerable.Range(0, (int)lengths[b]).OrderBy(_ => generator.Next()).Take(entries - 1).ToArray();
                    for (int e = 0; e < entries - 1; e++)
                    {
                        int at = (b * kvHeads + h) * entries + e;
                        positions[at] = perHead || h == 0 ? chosen[e] : positions[(b * kvHeads) * entries + e];
                        weightValues[at] = (float)generator.NextDouble();
                    }
                }
            var weights = tensor(weightValues, [batch, kvHeads, entries], device: device);
            var positionTensor = tensor(positions, [batch, kvHeads, entries], device: device);

            using var native = new TokenScores(1, slots, kvHeads, ring, perHead, cumulative: false, device);
            using var reference = new TokenScores(1, slots, kvHeads, ring, perHead, cumulative: false, device);
            var (history, sums) = native.WindowStores(0);
            history.copy_(rand(history.shape, device: device));
            sums.copy_(rand(sums.shape, device: device).mul_(Scalars.Of(3.0)));
            reference.WindowStores(0).History.copy_(history);
            reference.WindowStores(0).Sums.copy_(sums);

            WindowScoresKernel.Slide(native, 0, readSlots, lengthTensor, columns, leaving);
            WindowScoresKernel.Record(native, 0, readSlots, lengthTensor, columns, weights, positionTensor);

            var fed = readSlots.gather(1, lengthTensor.sub(Scalars.Of(1L)).view(-1, 1)).view(-1);
            reference.Reset(0, fed);
            using var index = reference.IndexOf(readSlots, columns, leaving);
            reference.Slide(0, index);
            var perPosition = zeros([batch, kvHeads, keyLength], ScalarType.Float32, device).scatter_add(2, positionTensor, weights);
            reference.RecordWindow(0, index, (perHead ? perPosition : perPosition.sum(1, keepdim: true)).unsqueeze(2));

            double Error(Tensor a, Tensor b) => a.narrow(0, 1, slots - 1).sub(b.narrow(0, 1, slots - 1)).abs().max().item<float>();
            double error = Math.Max(Error(history, reference.WindowStores(0).History), Error(sums, reference.WindowStores(0).Sums));
            string shape = $"rows {batch}, slots {slots}, kv heads {kvHeads}, ring {ring}, {(perHead ? "per-head" : "shared")} scores";
            yield return new NativeCheckCommand.FusedCase("window_scores", "Float32", shape, error, 1e-5, error <= 1e-5);

            // the ranking: window sums of positions sinks <= l < recent start (summed over the groups for one selection
            // per layer), -inf elsewhere
            int groups = perHead ? kvHeads : 1;
            var segmentValues = new int[batch * groups * 3];
            for (int b = 0; b < batch; b++)
                for (int g = 0; g < groups; g++)
                {
                    int recentStart = generator.Next(1, (int)lengths[b] + 1);
                    (segmentValues[(b * groups + g) * 3], segmentValues[(b * groups + g) * 3 + 1], segmentValues[(b * groups + g) * 3 + 2]) =
                        (generator.Next(0, recentStart + 1), 3, recentStart);
                }
            var segments = tensor(segmentValues, [batch, groups, 3], device: device);
            var ranking = WindowScoresKernel.Rank(native, 0, readSlots, segments);
            var window = sums.index_select(0, readSlots.view(-1)).view(batch, keyLength, -1).permute(0, 2, 1);   // [B, G, L]
            if (!perHead) window = window.sum(1, keepdim: true);
            var position = Scalars.Arange(keyLength, device).view(1, 1, -1);
            var parts = segments.to(ScalarType.Int64);
            var candidates = position.ge(parts.narrow(2, 0, 1)).logical_and(position.lt(parts.narrow(2, 2, 1)));
            var expected = window.masked_fill(candidates.logical_not(), Scalars.NegativeInfinity);
            bool sameCandidates = ranking.isinf().eq(expected.isinf()).all().item<bool>();
            double rankError = ranking.sub(expected).nan_to_num(0, 0, 0).abs().max().item<float>();
            yield return new NativeCheckCommand.FusedCase("window_ranking", "Float32", shape, rankError, 1e-5, sameCandidates && rankError <= 1e-5);
        }
    }
}
