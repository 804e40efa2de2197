using System.Net;
using AlisaCluster.Grains.Placement;
using Orleans.Runtime;

namespace AlisaCluster.Grains.Tests.Placement;

/// <summary>The placement choice from published loads: most free KV and queue room wins, a burst spreads through the
/// reservations, and silos that are draining or publish no load (gateway-only silos) never get a sequence.</summary>
public sealed class WorkerLoadTableTests
{
    private static readonly SiloAddress A = Silo(11111), B = Silo(11112), Gateway = Silo(11113);

    private static SiloAddress Silo(int port) => SiloAddress.New(new IPEndPoint(IPAddress.Loopback, port), 1);

    private static WorkerLoad Load(SiloAddress silo, int free, int waiting = 0, bool draining = false) =>
        new(silo, Engines: 1, KvTokensFree: free, KvTokensTotal: 4096, Running: 0, Waiting: waiting, MaxWaiting: 100, Draining: draining, GeneratedTokensTotal: 0);

    [Fact]
    public void Prefers_the_silo_with_more_free_kv()
    {
        var table = new WorkerLoadTable();
        table.Replace([Load(A, free: 1024), Load(B, free: 3072)]);
        Assert.Equal(B, table.Choose([A, B, Gateway], kvTokens: 100));
    }

    [Fact]
    public void Prefers_queue_room_when_kv_is_equal()
    {
        var table = new WorkerLoadTable();
        table.Replace([Load(A, free: 2048, waiting: 50), Load(B, free: 2048, waiting: 5)]);
        Assert.Equal(B, table.Choose([A, B], kvTokens: 0));
    }

    [Fact]
    public void A_burst_between_two_reports_spreads_over_the_workers()
    {
        var table = new WorkerLoadTable();
        table.Replace([Load(A, free: 4096), Load(B, free: 4096)]);
        var chosen = Enumerable.Range(0, 8).Select(_ => table.Choose([A, B], kvTokens: 500)).ToList();
        Assert.Equal(4, chosen.Count(s => s == A));
        Assert.Equal(4, chosen.Count(s => s == B));
    }

    [Fact]
    public void Draining_silos_and_silos_without_a_load_are_never_chosen()
    {
        var table = new WorkerLoadTable();
        table.Replace([Load(A, free: 4096, draining: true)]);
        Assert.Null(table.Choose([A, Gateway], kvTokens: 10));
        table.Replace([Load(A, free: 4096, draining: true), Load(B, free: 10)]);
        Assert.Equal(B, table.Choose([A, B, Gateway], kvTokens: 10));
    }

    [Fact]
    public void The_placing_silo_wins_while_it_is_nearly_as_good_as_the_best()
    {
        var table = new WorkerLoadTable();
        // scores: A = 3072/4096 + 1 = 1.75, B = 4096/4096 + 1 = 2 (within the margin), then A = 0.25 + 1 (not)
        table.Replace([Load(A, free: 3072), Load(B, free: 4096)]);
        Assert.Equal(A, table.Choose([A, B], kvTokens: 0, preferred: A));
        Assert.Equal(B, table.Choose([A, B], kvTokens: 0, preferred: Gateway));
        table.Replace([Load(A, free: 1024), Load(B, free: 4096)]);
        Assert.Equal(B, table.Choose([A, B], kvTokens: 0, preferred: A));
        table.Replace([Load(A, free: 4096, draining: true), Load(B, free: 1024)]);
        Assert.Equal(B, table.Choose([A, B], kvTokens: 0, preferred: A));
    }

    [Fact]
    public void Only_compatible_silos_are_candidates()
    {
        var table = new WorkerLoadTable();
        table.Replace([Load(A, free: 4096), Load(B, free: 100)]);
        Assert.Equal(B, table.Choose([B], kvTokens: 10));
    }
}
