namespace AlisaCluster.GpuWorker.Planning;

/// <summary>Fits y = sum_i c_i * x_i by least squares (normal equations; a handful of features and points).</summary>
internal static class LeastSquares
{
    /// <summary>The best fit with every c_i &gt;= 0: a time never shrinks with more batch or length, and timings that are
    /// nearly flat (host-bound steps) must not extrapolate to negative times. Tries each subset of features (few).</summary>
    public static double[] FitNonNegative(IReadOnlyList<double[]> features, IReadOnlyList<double> targets)
    {
        int n = features[0].Length;
        double[]? best = null;
        double bestError = double.MaxValue;
        for (int mask = 1; mask < 1 << n; mask++)
        {
            var used = Enumerable.Range(0, n).Where(i => (mask >> i & 1) == 1).ToArray();
            var fit = Fit(features.Select(f => used.Select(i => f[i]).ToArray()).ToList(), targets);
            if (fit.Any(c => c < 0 || double.IsNaN(c))) continue;
            var full = new double[n];
            for (int j = 0; j < used.Length; j++) full[used[j]] = fit[j];
            double error = features.Select((f, row) => Math.Pow(f.Zip(full, (x, c) => x * c).Sum() - targets[row], 2)).Sum();
            if (error < bestError) (best, bestError) = (full, error);
        }
        return best ?? new double[n];
    }

    public static double[] Fit(IReadOnlyList<double[]> features, IReadOnlyList<double> targets)
    {
        int n = features[0].Length;
        var a = new double[n, n + 1];
        for (int row = 0; row < features.Count; row++)
            for (int i = 0; i < n; i++)
            {
                for (int j = 0; j < n; j++) a[i, j] += features[row][i] * features[row][j];
                a[i, n] += features[row][i] * targets[row];
            }
        for (int i = 0; i < n; i++) a[i, i] += 1e-12; // keeps an unused feature from making the system singular
        for (int col = 0; col < n; col++) // Gauss-Jordan with partial pivoting
        {
            int pivot = Enumerable.Range(col, n - col).MaxBy(r => Math.Abs(a[r, col]));
            for (int j = 0; j <= n; j++) (a[col, j], a[pivot, j]) = (a[pivot, j], a[col, j]);
            for (int r = 0; r < n; r++)
            {
                if (r == col) continue;
                double f = a[r, col] / a[col, col];
                for (int j = col; j <= n; j++) a[r, j] -= f * a[col, j];
            }
        }
        return Enumerable.Range(0, n).Select(i => a[i, n] / a[i, i]).ToArray();
    }
}
