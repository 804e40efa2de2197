using System.Diagnostics;
using StackExchange.Redis;

namespace AlisaCluster.ClusterTesting;

/// <summary>A throw-away redis-server on a free port, without persistence (scripts/setup.sh installs it when
/// ALISA_SETUP_REDIS=1, as test.sh does).</summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly Process _process;

    private RedisServer(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }
    public string ConnectionString => $"127.0.0.1:{Port}";

    public static async Task<RedisServer> StartAsync()
    {
        int port = TestPorts.Free();
        var start = new ProcessStartInfo("redis-server", ["--port", $"{port}", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        {
            RedirectStandardOutput = true, RedirectStandardError = true,
        };
        Process process;
        try { process = Process.Start(start)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("redis-server is not on PATH; run ALISA_SETUP_REDIS=1 scripts/setup.sh", e);
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new RedisServer(process, port);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            try
            {
                await using var probe = await ConnectionMultiplexer.ConnectAsync(server.ConnectionString);
                await probe.GetDatabase().PingAsync();
                return server;
            }
            catch (RedisConnectionException) when (DateTime.UtcNow < deadline) { await Task.Delay(100); }
        }
    }

    public ValueTask DisposeAsync()
    {
        if (!_process.HasExited) _process.Kill();
        _process.WaitForExit(5000);
        _process.Dispose();
        return ValueTask.CompletedTask;
    }
}
