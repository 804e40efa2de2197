namespace AlisaCluster.GpuWorker.Diagnostics;

/// <summary>Row-wise helpers over [positions, vocab] logits on the host.</summary>
public static class LogitMath
{
    public static int ArgMax(float[,] logits, int row)
    {
        int best = 0;
        for (int j = 1; j < logits.GetLength(1); j++) if (logits[row, j] > logits[row, best]) best = j;
        return best;
    }

    public static double LogSumExp(float[,] logits, int row)
    {
        double max = double.MinValue, sum = 0;
        for (int j = 0; j < logits.GetLength(1); j++) max = Math.Max(max, logits[row, j]);
        for (int j = 0; j < logits.GetLength(1); j++) sum += Math.Exp(logits[row, j] - max);
        return max + Math.Log(sum);
    }

    /// <summary>Summed next-token negative log-likelihood of ids[1..] given the logits of ids[..^1].</summary>
    public static double NllSum(float[,] logits, IReadOnlyList<int> ids)
    {
        double nll = 0;
        for (int t = 0; t + 1 < ids.Count; t++) nll += LogSumExp(logits, t) - logits[t, ids[t + 1]];
        return nll;
    }
}
