using AlisaCluster.GpuWorker.Native;

namespace AlisaCluster.GpuWorker.Engine;

/// <summary>Where a running engine's time goes, summed over its steps (benchmarks print it beside the step time):
/// per phase of a step the device time between two CUDA events (zero off CUDA): prefill forwards, the tier moves and
/// KV reservations before a decode, and the decode forward with its sampling. The events are read at the end of the
/// step, after the decode's download has synchronised, so measuring adds no wait to a step that decodes.</summary>
public sealed class StepTimes : IDisposable
{
    public enum Phase { Prefill, TierMoves, Decode }

    private static readonly int Phases = Enum.GetValues<Phase>().Length;
    private readonly CudaTimer?[] _timers = new CudaTimer?[Phases];
    private readonly bool[] _begun = new bool[Phases];
    private readonly bool[] _pending = new bool[Phases];   // begun and ended, not yet read
    private readonly double[] _gpuSeconds = new double[Phases];

    public StepTimes(bool onCuda)
    {
        if (onCuda) for (int i = 0; i < Phases; i++) _timers[i] = new CudaTimer();
    }

    public void Begin(Phase phase)
    {
        _timers[(int)phase]?.Start();
        _begun[(int)phase] = _timers[(int)phase] is not null;
        _pending[(int)phase] = false;
    }

    /// <summary>Ends a phase begun this step; a phase a failed step left open is never read.</summary>
    public void End(Phase phase)
    {
        if (!_begun[(int)phase]) return;
        _timers[(int)phase]!.Stop();
        (_begun[(int)phase], _pending[(int)phase]) = (false, true);
    }

    /// <summary>Adds the device time of the phases this step ran (waits for their work to finish).</summary>
    public void Collect()
    {
        for (int i = 0; i < Phases; i++)
            if (_pending[i])
            {
                _gpuSeconds[i] += _timers[i]!.ElapsedMilliseconds() / 1000;
                _pending[i] = false;
            }
    }

    public double GpuSeconds(Phase phase) => _gpuSeconds[(int)phase];

    public void Dispose()
    {
        foreach (var timer in _timers) timer?.Dispose();
    }
}
