using AlisaCluster.GpuWorker;
using AlisaCluster.GpuWorker.Native;
using static TorchSharp.torch;

namespace AlisaCluster.Cli.Commands;

/// <summary>native-check's cases for the native top-k of the selection (native/src/select_top.cu) against torch.topk:
/// the values it takes must be the same multiset (positions may differ among ties), its positions distinct and
/// ascending. Rankings with many ties (rounded values), -inf non-candidates, and k from 1 to the whole row.</summary>
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
            var listed = WindowScoresKernel.Top(ranking, k);
            var (expected, _) = ranking.topk(k, dim: -1);
            var taken = ranking.gather(2, listed.to(ScalarType.Int64)).sort(-1, descending: true).Values;
            bool sameValues = taken.eq(expected).all().item<bool>();
            var steps = listed.to(ScalarType.Int64).diff(dim: -1);
            bool ascending = steps.numel() == 0 || steps.gt(Scalars.Of(0L)).all().item<bool>();
            bool inRange = listed.ge(Scalars.Of(0)).all().item<bool>() && listed.lt(Scalars.Of(length)).all().item<bool>();
            double error = taken.sub(expected).nan_to_num(0, 0, 0).abs().max().item<float>();
            string shape = $"rows {rows} x {groups}, L {length}, k {k}{(ties ? ", ties" : "")}";
            yield return new NativeCheckCommand.FusedCase("select_top", "Float32", shape, error, 0, sameValues && ascending && inRange);
        }
    }
}
