namespace AlisaCluster.Grains.Placement;

/// <summary>This silo's view of every worker's last published load, plus the KV it has promised to each since (so a
/// burst of placements between two reports spreads out instead of piling onto the same silo).</summary>
public sealed class WorkerLoadTable
{
    private readonly object _lock = new();
    private Dictionary<SiloAddress, (WorkerLoad Load, int Reserved)> _workers = [];
    private TaskCompletionSource _firstReport = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task FirstReport => _firstReport.Task;

    public IReadOnlyList<WorkerLoad> Workers
    {
        get { lock (_lock) return _workers.Values.Select(w => w.Load).ToList(); }
    }

    /// <summary>Replaces the table with fresh reports; silos that did not answer are dropped.</summary>
    public void Replace(IEnumerable<WorkerLoad> loads)
    {
        lock (_lock) _workers = loads.ToDictionary(l => l.Silo, l => (l, 0));
        _firstReport.TrySetResult();
    }

    /// <summary>The best of <paramref name="candidates"/> that reported a load and is not draining, with
    /// <paramref name="kvTokens"/> reserved on it; null when none qualifies.</summary>
    public SiloAddress? Choose(IEnumerable<SiloAddress> candidates, int kvTokens)
    {
        lock (_lock)
        {
            var best = candidates
                .Where(s => _workers.TryGetValue(s, out var w) && !w.Load.Draining)
                .Select(s => (Silo: s, Score: WorkerScore.Of(_workers[s].Load, _workers[s].Reserved)))
                .OrderByDescending(c => c.Score).ThenBy(c => _workers[c.Silo].Load.Running)
                .Select(c => c.Silo).FirstOrDefault();
            if (best is not null) _workers[best] = (_workers[best].Load, _workers[best].Reserved + kvTokens);
            return best;
        }
    }
}
