using AlisaCluster.GpuWorker.Kv;

namespace AlisaCluster.GpuWorker.Engine;

/// <summary>Decides, between steps, which sequences run: admits waiting ones while the KV pool has room for their
/// whole prefix, makes room for one more token per running sequence, and when the pool runs out preempts the most
/// recently admitted sequence (its KV is freed and rebuilt by prefill later, as vLLM's recompute preemption).
/// With a tier plan, each running sequence's oldest KV first moves down to the CPU or is deleted as the plan says
/// for its length (ALISA's three phases), which frees GPU blocks before any preemption is considered.</summary>
public sealed class Scheduler(KvCache cache, int maxBatchSize, Planning.KvTierPlan? tierPlan = null)
{
    private readonly LinkedList<Sequence> _waiting = new();
    private readonly List<Sequence> _running = new();

    public IReadOnlyCollection<Sequence> Waiting => _waiting;
    public IReadOnlyList<Sequence> Running => _running;
    public long PreemptionCount { get; private set; }

    public void Add(Sequence sequence) => _waiting.AddLast(sequence);

    /// <summary>Moves waiting sequences to running while KV room and batch room last; returns those that need a prefill.
    /// A sequence that could not fit even in an empty pool is returned in <paramref name="rejected"/>.</summary>
    public List<Sequence> Admit(List<Sequence> rejected)
    {
        var admitted = new List<Sequence>();
        int poolTokens = cache.TotalBlocks * cache.BlockSize;
        while (_waiting.First is { } node && _running.Count < maxBatchSize)
        {
            var sequence = node.Value;
            int needed = sequence.Tokens.Count + 1;
            if (needed > poolTokens)
            {
                _waiting.RemoveFirst();
                rejected.Add(sequence);
                continue;
            }
            if (!cache.TryReserve(sequence.Kv, needed)) break; // first come, first served: no overtaking
            _waiting.RemoveFirst();
            sequence.State = SequenceState.Running;
            _running.Add(sequence);
            admitted.Add(sequence);
        }
        return admitted;
    }

    /// <summary>Reserves one more KV slot for each running sequence, preempting the newest ones when the pool is full.
    /// Returns the sequences to decode this step.</summary>
    public List<Sequence> PrepareDecode()
    {
        if (tierPlan is { IsAllGpu: false } plan && cache.IsTiered)
            cache.MoveDown(_running.Select(s =>
            {
                var (offloaded, dropped) = plan.BlocksAt(s.Kv.Length, cache.BlockSize);
                return (s.Kv, offloaded, dropped);
            }));
        for (int i = 0; i < _running.Count; i++)
        {
            var sequence = _running[i];
            while (!cache.TryReserve(sequence.Kv, sequence.Kv.Length + 1))
            {
                var victim = _running[^1];
                Preempt(victim);
                if (victim == sequence) break;
            }
        }
        return _running.Where(s => s.State == SequenceState.Running && s.PendingTokens == 1).ToList();
    }

    private void Preempt(Sequence sequence)
    {
        cache.Release(sequence.Kv);
        _running.Remove(sequence);
        sequence.State = SequenceState.Waiting;
        sequence.Preemptions++;
        PreemptionCount++;
        _waiting.AddFirst(sequence);
    }

    /// <summary>Removes a sequence wherever it is and frees its KV at once.</summary>
    public void Remove(Sequence sequence)
    {
        cache.Release(sequence.Kv);
        _running.Remove(sequence);
        _waiting.Remove(sequence);
        sequence.State = SequenceState.Finished;
    }
}
