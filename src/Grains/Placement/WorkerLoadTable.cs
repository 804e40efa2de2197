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

    /// <summary>How much lower <c>preferred</c>'s score may be than the best one's for it to still be chosen.</summary>
    public const double PreferredMargin = 0.25;

    /// <summary>The best of <paramref name="candidates"/> that reported a load and is not draining, with
    /// <paramref name="kvTokens"/> reserved on it; null when none qualifies. <paramref name="preferred"/> (the placing
    /// silo) wins while its score is within <see cref="PreferredMargin"/> of the best: a client's calls to a grain
    /// travel through the silo that placed it, so a sequence hosted there depends on one silo instead of two.</summary>
    public SiloAddress? Choose(IEnumerable<SiloAddress> candidates, int kvTokens, SiloAddress? preferred = null)
    {
        lock (_lock)
        {
            var ranked = candidates
                .Where(s => _workers.TryGetValue(s, out var w) && !w.Load.Draining)
                .Select(s => (Silo: s, Score: WorkerScore.Of(_workers[s].Load, _workers[s].Reserved)))
                .OrderByDescending(c => c.Score).ThenBy(c => _workers[c.Silo].Load.Running)
                .ToList();
            var best = ranked.Count == 0 ? null
                : ranked.FirstOrDefault(c => c.Silo.Equals(preferred) && c.Score >= ranked[0].Score - PreferredMargin).Silo ?? ranked[0].Silo;
            if (best is not null) _workers[best] = (_workers[best].Load, _workers[best].Reserved + kvTokens);
            return best;
        }
    }
}
