namespace AlisaCluster.Grains;

/// <summary>The load of one worker silo's engines; the grain key is that silo's address
/// (<see cref="SiloAddress.ToParsableString"/>) and the grain lives on that silo.</summary>
public interface IWorkerStatusGrain : IGrainWithStringKey
{
    Task<WorkerLoad> GetLoadAsync();
}

/// <summary>What a worker publishes for placement and metrics: free KV capacity, queue room, and whether it is
/// draining for shutdown (then it takes no new sequences).</summary>
[GenerateSerializer, Immutable]
public sealed record WorkerLoad(
    [property: Id(0)] SiloAddress Silo,
    [property: Id(1)] int Engines,
    [property: Id(2)] int KvTokensFree,
    [property: Id(3)] int KvTokensTotal,
    [property: Id(4)] int Running,
    [property: Id(5)] int Waiting,
    [property: Id(6)] int MaxWaiting,
    [property: Id(7)] bool Draining,
    [property: Id(8)] long GeneratedTokensTotal,
    [property: Id(9)] double CpuKvUsage = 0,
    [property: Id(10)] long BytesOffloaded = 0,
    [property: Id(11)] long BytesFetched = 0,
    [property: Id(12)] long TokensRecomputed = 0,
    [property: Id(13)] int SequencesInPhase2 = 0,
    [property: Id(14)] int SequencesInPhase3 = 0)
{
    public double KvUsage => KvTokensTotal == 0 ? 0 : 1 - (double)KvTokensFree / KvTokensTotal;
    public double QueueRoom => MaxWaiting == 0 ? 0 : Math.Max(0, 1 - (double)Waiting / MaxWaiting);
}
