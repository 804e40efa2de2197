namespace AlisaCluster.Grains.Placement;

/// <summary>How attractive a worker is for a new sequence: the share of its KV pool still free after the
/// reservations made since its last report, plus its share of queue room (both 0..1, equally weighted).</summary>
public static class WorkerScore
{
    public static double Of(WorkerLoad load, int reservedTokens)
    {
        if (load.KvTokensTotal == 0) return 0;
        double free = Math.Max(0, load.KvTokensFree - reservedTokens) / (double)load.KvTokensTotal;
        return free + load.QueueRoom;
    }
}
