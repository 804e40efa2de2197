namespace AlisaCluster.GpuWorker.Planning;

/// <summary>Predicted decode step time of a batch under a tier plan: compute (fitted from the profile) + bytes read
/// from the CPU / measured bandwidth + the prefix prefill that rebuilds dropped tokens + the step's share of offload
/// copies. Coefficients (all >= 0): step = a + b*B + c*B*L; prefill = d + e*R*M + f*R*M^2.</summary>
public sealed class CostModel
{
    private readonly double[] _step, _prefill;

    public CostModel(DeviceProfile profile, long fetchBytesPerToken, long offloadBytesPerToken)
    {
        Profile = profile;
        FetchBytesPerToken = fetchBytesPerToken;
        OffloadBytesPerToken = offloadBytesPerToken;
        _step = LeastSquares.FitNonNegative(profile.DecodeSteps.Select(p => new[] { 1.0, p.Batch, (double)p.Batch * p.Length }).ToList(),
            profile.DecodeSteps.Select(p => p.Seconds).ToList());
        _prefill = LeastSquares.FitNonNegative(profile.Prefills.Select(p => new[] { 1.0, (double)p.Rows * p.Length, (double)p.Rows * p.Length * p.Length }).ToList(),
            profile.Prefills.Select(p => p.Seconds).ToList());
    }

    public DeviceProfile Profile { get; }
    public long FetchBytesPerToken { get; }
    public long OffloadBytesPerToken { get; }

    public double ComputeSeconds(int batch, int length) => _step[0] + _step[1] * batch + _step[2] * batch * length;

    public double RecomputeSeconds(int rows, int prefix) =>
        prefix == 0 ? 0 : _prefill[0] + _prefill[1] * rows * prefix + _prefill[2] * rows * (double)prefix * prefix;

    public double FetchSeconds(double tokens) => tokens * FetchBytesPerToken / Profile.FetchBytesPerSecond;

    public double OffloadSeconds(double tokens) => tokens * OffloadBytesPerToken / Profile.OffloadBytesPerSecond;

    /// <summary>The parts of one step's predicted time.</summary>
    public sealed record StepCost(double Compute, double Fetch, double Recompute, double Offload)
    {
        public double Total => Compute + Fetch + Recompute + Offload;
    }
}
