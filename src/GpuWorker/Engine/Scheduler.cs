using AlisaCluster.GpuWorker.Kv;

namespace AlisaCluster.GpuWorker.Engine;

/// <summary>Decides, between steps, which sequences run: admits waiting ones while the KV pool has room for their
/// whole prefix, makes room for one more token per running sequence, and when the pool runs out preempts the most
/// recently admitted sequence (its KV is freed and rebuilt by prefill later, as vLLM's recompute preemption).
/// With a tier plan, each running sequence's oldest KV first moves down to the CPU or is deleted as the plan says
/// for its length (ALISA's three phases), which frees GPU blocks before any preemption is considered.
/// With a prefix cache, an admitted sequence first shares the cached KV of its leading tokens, and cached blocks that
/// no sequence holds are evicted before a reservation fails.</summary>
public sealed class Scheduler(KvCache cache, int maxBatchSize, Planning.KvTierPlan? tierPlan = null, PrefixCache? prefix = null)
{
    private readonly LinkedList<Sequence> _waiting = new();
    private readonly List<Sequence> _running = new();

    public IReadOnlyCollection<Sequence> Waiting => _waiting;
    public IReadOnlyList<Sequence> Running => _running;
    public long PreemptionCount { get; private set; }
    /// <summary>Tokens whose KV admitted sequences took from the prefix cache (re-admissions after preemption included).</summary>
    public long PrefixHitTokens { get; private set; }

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
            int cached = prefix is null ? 0 : AttachPrefix(sequence);
            if (!Reserve(sequence.Kv, needed))
            {
                Release(sequence.Kv);
                break; // first come, first served: no overtaking
            }
            PrefixHitTokens += cached;
            if (sequence.Preemptions == 0) sequence.CachedPromptTokens = Math.Min(cached, sequence.PromptLength);
            _waiting.RemoveFirst();
            sequence.State = SequenceState.Running;
            _running.Add(sequence);
            admitted.Add(sequence);
        }
        return admitted;
    }

    /// <summary>Reserves one more KV slot for each running sequence, preempting the newest ones when the pool is full.
    /// Returns the sequences to decode this step. A sequence whose token in flight is its last by max_tokens
    /// (<see cref="Sequence.LastTokenInFlight"/>) neither reserves nor decodes, nor is preempted: it ends, freeing its
    /// KV, when that token arrives within this step.</summary>
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
            if (sequence.LastTokenInFlight) continue;
            while (!Reserve(sequence.Kv, sequence.Kv.Length + 1))
            {
                var victim = _running.FindLast(s => !s.LastTokenInFlight)!; // at worst the sequence itself
                Preempt(victim);
                if (victim == sequence) break;
            }
        }
        return _running.Where(s => s.State == SequenceState.Running && s.PendingTokens == 1 && !s.LastTokenInFlight).ToList();
    }

    /// <summary>Shares the longest cached prefix of the sequence's tokens; returns its length. The last token is always
    /// computed (its logits pick the next token); a sparse policy keeps a prefill of at least two tokens, because a
    /// one-token forward of it is a sparse decode step, whose K/V would differ from the prefill's. Policies that keep
    /// per-sequence scores (SWA, H2O) seed them from their own prefill, so they never share.</summary>
    private int AttachPrefix(Sequence sequence)
    {
        var policy = sequence.Kv.Policy;
        if (policy.NeedsWindowScores || policy.NeedsCumulativeScores) return 0;
        int computed = policy.IsDense ? 1 : 3;
        return prefix!.Attach(sequence.Kv, sequence.Tokens, Math.Max(0, sequence.Tokens.Count - computed) / cache.BlockSize);
    }

    /// <summary>Room for <paramref name="length"/> positions, evicting unheld cached blocks when the pool is short.</summary>
    private bool Reserve(SequenceKv kv, int length) =>
        cache.TryReserve(kv, length)
        || (prefix is not null && prefix.Evict(kv.BlocksNeededFor(length) - cache.FreeBlocks) && cache.TryReserve(kv, length));

    /// <summary>Frees the sequence's own blocks and gives up its hold on the cached ones.</summary>
    private void Release(SequenceKv kv)
    {
        prefix?.Detach(kv);
        cache.Release(kv);
    }

    private void Preempt(Sequence sequence)
    {
        Release(sequence.Kv);
        _running.Remove(sequence);
        sequence.State = SequenceState.Waiting;
        sequence.Preemptions++;
        PreemptionCount++;
        _waiting.AddFirst(sequence);
    }

    /// <summary>Removes a sequence wherever it is and frees its KV at once.</summary>
    public void Remove(Sequence sequence)
    {
        Release(sequence.Kv);
        _running.Remove(sequence);
        _waiting.Remove(sequence);
        sequence.State = SequenceState.Finished;
    }
}
