using AlisaCluster.GpuWorker;
using AlisaCluster.GpuWorker.Native;
using static TorchSharp.torch;

namespace AlisaCluster.Cli.Commands;

/// <summary>native-check's cases for the native top-k of the selection (native/src/select_top.cu) against torch.topk:
/// each row takes its own listed count (random up to the batch's k); the values it takes must be the top values of
/// torch.topk as a multiset (positions may differ among ties), its positions ascending, the rest zeros. Rankings with
/// many ties (rounded values), -inf non-candidates, and k from 1 to the whole row.</summary>
public static class SelectTopCheck
{
    public static IEnumerable<NativeCheckCommand.FusedCase> Cases()
    {
        var device = new Device("cuda");
        (int Rows, int Groups, int Length, int K, bool Ties)[] shapes =
            [(64, 1, 640, 128, false), (3, 4, 24, 5, true), (8, 1, 3000, 600, true), (5, 2, 257, 257, false), (2, 1, 1, 1, false), (256, 1, 700, 1, true)];
        foreach (var (rows, groups, length, k, ties) in shapes)
        {
            using var scope = NewDisposeScope();
            var ranking = rand([rows, groups, length], ScalarType.Float32, device);
            if (ties) ranking = ranking.mul(Scalars.Of(8.0)).floor_();                       // 8 distinct values
            var dropped = rand([rows, groups, length], ScalarType.Float32, device).lt(Scalars.Of(0.3));
            ranking = ranking.masked_fill(dropped, Scalars.NegativeInfinity);                 // non-candidates, as window_ranking writes
            // each row's listed count: random in [0, k] (every third row the whole k), never more than its candidates
            var candidates = ranking.isfinite().sum([-1L]).to(ScalarType.Int32);
            var wanted = randint(0, k + 1, [rows, groups], ScalarType.Int32, device);
            var whole = Scalars.Arange(rows, device).remainder(Scalars.Of(3L)).eq(Scalars.Of(0L)).view(rows, 1).expand(rows, groups);
            var counts = minimum(where(whole, full([rows, groups], Scalars.Of((long)k), ScalarType.Int32, device), wanted), candidates);
            var segments = stack([zeros_like(counts), counts, zeros_like(counts)], 2);
            var listed = WindowScoresKernel.Top(ranking, segments, k);
            var read = Scalars.Arange(k, device).view(1, 1, k).lt(counts.unsqueeze(2));                 // entries a row reads
            var (expected, _) = ranking.topk(k, dim: -1);
            var taken = ranking.gather(2, listed.to(ScalarType.Int64)).masked_fill(read.logical_not(), Scalars.NegativeInfinity)
                .sort(-1, descending: true).Values;
            var expectedRead = expected.masked_fill(read.logical_not(), Scalars.NegativeInfinity);
            bool sameValues = taken.eq(expectedRead).all().item<bool>();
            var next = listed.to(ScalarType.Int64).diff(dim: -1);
            bool ascending = next.numel() == 0 || next.gt(Scalars.Of(0L)).logical_or(read.narrow(2, 1, k - 1).logical_not()).all().item<bool>();
            bool padded = listed.masked_select(read.logical_not()).eq(Scalars.Of(0L)).all().item<bool>();
            bool inRange = listed.ge(Scalars.Of(0L)).all().item<bool>() && listed.lt(Scalars.Of((long)length)).all().item<bool>();
            double error = taken.sub(expectedRead).nan_to_num(0, 0, 0).abs().max().item<float>();
            bool passed = sameValues && ascending && padded && inRange;
            string shape = $"rows {rows} x {groups}, L {length}, k {k}{(ties ? ", ties" : "")}";
            yield return new NativeCheckCommand.FusedCase("select_top", "Float32", shape, error, 0, passed);
        }
    }
}
