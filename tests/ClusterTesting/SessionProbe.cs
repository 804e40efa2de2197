using AlisaCluster.Gateway.Sessions;
using Microsoft.Extensions.DependencyInjection;

namespace AlisaCluster.ClusterTesting;

/// <summary>Reads a gateway's sessions the way an operator would (through its store). Progress is written in the
/// background (Gateway:SessionFlushInterval), so these wait for the state they need.</summary>
public static class SessionProbe
{
    /// <summary>The silo a running stream is on, once the session has recorded one.</summary>
    public static Task<string> SiloOfAsync(IServiceProvider gateway, string requestId) =>
        WaitForAsync(gateway, requestId, s => s.Silo.Length > 0, s => s.Silo);

    public static async Task<T> WaitForAsync<T>(IServiceProvider gateway, string requestId, Func<SessionRecord, bool> ready, Func<SessionRecord, T> read)
    {
        var store = gateway.GetRequiredService<ISessionStore>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            var session = await store.GetAsync(requestId, CancellationToken.None);
            if (session is not null && ready(session)) return read(session);
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"session {requestId} never reached the awaited state (last: {session})");
            await Task.Delay(50);
        }
    }
}
