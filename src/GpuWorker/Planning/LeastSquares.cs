namespace AlisaCluster.GpuWorker.Planning;

/// <summary>Fits y = sum_i c_i * x_i by least squares (normal equations; a handful of features and points).</summary>
internal static class LeastSquares
{
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
