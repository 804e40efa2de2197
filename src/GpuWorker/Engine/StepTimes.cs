using AlisaCluster.GpuWorker.Native;

namespace AlisaCluster.GpuWorker.Engine;

/// <summary>Where a running engine's time goes, summed over its steps (benchmarks print it beside the step time):
/// per phase of a step the device time between two CUDA events (zero off CUDA): prefill forwards, the tier moves and
/// KV reservations before a decode, and the decode forward with its sampling. Each step ends by reading the events of
/// the step before it, whose tokens have reached the host by then (two sets of events take turns), so measuring adds
/// no wait even while the step just issued runs (async scheduling). <see cref="Flush"/> reads all.</summary>
public sealed class StepTimes : IDisposable
{
    public enum Phase { Prefill, TierMoves, Decode }

    private static readonly int Phases = Enum.GetValues<Phase>().Length;
    private readonly CudaTimer?[,] _timers = new CudaTimer?[2, Phases];
    private readonly bool[,] _begun = new bool[2, Phases];
    private readonly bool[,] _pending = new bool[2, Phases];   // begun and ended, not yet read
    private readonly double[] _gpuSeconds = new double[Phases];
    private int _set;                                          // the events this step records

    public StepTimes(bool onCuda)
    {
        if (onCuda) for (int s = 0; s < 2; s++) for (int i = 0; i < Phases; i++) _timers[s, i] = new CudaTimer();
    }

    public void Begin(Phase phase)
    {
        int p = (int)phase;
        _timers[_set, p]?.Start();
        _begun[_set, p] = _timers[_set, p] is not null;
        _pending[_set, p] = false;
    }

    /// <summary>Ends a phase begun this step; a phase a failed step left open is never read.</summary>
    public void End(Phase phase)
    {
        int p = (int)phase;
        if (!_begun[_set, p]) return;
        _timers[_set, p]!.Stop();
        (_begun[_set, p], _pending[_set, p]) = (false, true);
    }

    /// <summary>Ends the step: adds the device time of the step before it, whose events the next step records again.</summary>
    public void Collect()
    {
        _set ^= 1;
        Read(_set);
    }

    /// <summary>Adds the device time of every phase ended so far (waits for its work to finish).</summary>
    public void Flush()
    {
        Read(_set ^ 1);
        Read(_set);
    }

    private void Read(int set)
    {
        for (int i = 0; i < Phases; i++)
            if (_pending[set, i])
            {
                _gpuSeconds[i] += _timers[set, i]!.ElapsedMilliseconds() / 1000;
                _pending[set, i] = false;
            }
    }

    public double GpuSeconds(Phase phase) => _gpuSeconds[(int)phase];

    public void Dispose()
    {
        foreach (var timer in _timers) timer?.Dispose();
    }
}
