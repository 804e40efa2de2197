using AlisaCluster.ClusterTesting;
using AlisaCluster.Gateway.Sessions;
using StackExchange.Redis;

namespace AlisaCluster.Gateway.Tests.Sessions;

/// <summary>Both session stores honour the same contract: a request id belongs to one stream, saves add the new tokens
/// and are repeatable, and records carry a TTL.</summary>
public sealed class SessionStoreTests : IAsyncLifetime
{
    private RedisServer _redis = null!;
    private ConnectionMultiplexer _connection = null!;

    public async Task InitializeAsync()
    {
        _redis = await RedisServer.StartAsync();
        _connection = await ConnectionMultiplexer.ConnectAsync(_redis.ConnectionString);
    }

    public async Task DisposeAsync()
    {
        await _connection.DisposeAsync();
        await _redis.DisposeAsync();
    }

    private ISessionStore Store(string kind) => kind == "redis" ? new RedisSessionStore(_connection) : new InMemorySessionStore();

    private static SessionRecord NewSession() => new()
    {
        RequestId = "req-" + Guid.NewGuid().ToString("N"), ApiKeyName = "tester", StreamId = Guid.NewGuid().ToString("N"), PromptTokens = 7,
    };

    [Theory, InlineData("redis"), InlineData("memory")]
    public async Task A_request_id_belongs_to_the_first_stream_and_a_retried_create_is_idempotent(string kind)
    {
        var store = Store(kind);
        var session = NewSession();
        Assert.True(await store.TryCreateAsync(session, TimeSpan.FromMinutes(1), CancellationToken.None));
        Assert.True(await store.TryCreateAsync(session, TimeSpan.FromMinutes(1), CancellationToken.None));
        Assert.False(await store.TryCreateAsync(session with { StreamId = "another stream" }, TimeSpan.FromMinutes(1), CancellationToken.None));
    }

    [Theory, InlineData("redis"), InlineData("memory")]
    public async Task Saved_progress_reads_back_whole(string kind)
    {
        var store = Store(kind);
        var session = NewSession();
        await store.TryCreateAsync(session, TimeSpan.FromMinutes(1), CancellationToken.None);
        var progressed = session with
        {
            State = SessionStates.Finished, Silo = "S127.0.0.1:11111:1", GeneratedTokens = [5, 6, 7], Resumes = 1, FinishReason = "length",
        };
        await store.SaveAsync(progressed with { GeneratedTokens = [5, 6] }, 0, TimeSpan.FromMinutes(1), CancellationToken.None);
        await store.SaveAsync(progressed, 2, TimeSpan.FromMinutes(1), CancellationToken.None);
        await store.SaveAsync(progressed, 2, TimeSpan.FromMinutes(1), CancellationToken.None);
        var read = await store.GetAsync(session.RequestId, CancellationToken.None);
        Assert.NotNull(read);
        Assert.Equal(progressed.GeneratedTokens, read.GeneratedTokens);
        Assert.Equal((progressed.State, progressed.Silo, progressed.Resumes, progressed.FinishReason, progressed.PromptTokens, progressed.ApiKeyName),
            (read.State, read.Silo, read.Resumes, read.FinishReason, read.PromptTokens, read.ApiKeyName));
        Assert.Equal(progressed.CreatedAt.ToUnixTimeMilliseconds(), read.CreatedAt.ToUnixTimeMilliseconds());
    }

    [Fact]
    public async Task Redis_sessions_expire()
    {
        var store = Store("redis");
        var session = NewSession();
        await store.TryCreateAsync(session, TimeSpan.FromMinutes(5), CancellationToken.None);
        var ttl = await _connection.GetDatabase().KeyTimeToLiveAsync($"alisa:session:{session.RequestId}");
        Assert.InRange(ttl!.Value, TimeSpan.FromMinutes(4), TimeSpan.FromMinutes(5));

        await store.SaveAsync(session with { GeneratedTokens = [1, 2] }, 0, TimeSpan.FromMilliseconds(200), CancellationToken.None);
        await Task.Delay(500);
        Assert.Null(await store.GetAsync(session.RequestId, CancellationToken.None));
        Assert.False(await _connection.GetDatabase().KeyExistsAsync($"alisa:session:{session.RequestId}:tokens"));
    }

    [Fact]
    public async Task In_memory_sessions_expire()
    {
        var store = Store("memory");
        var session = NewSession();
        await store.TryCreateAsync(session, TimeSpan.FromMilliseconds(100), CancellationToken.None);
        await Task.Delay(300);
        Assert.Null(await store.GetAsync(session.RequestId, CancellationToken.None));
        Assert.True(await store.TryCreateAsync(session with { StreamId = "new owner" }, TimeSpan.FromMinutes(1), CancellationToken.None));
    }
}
