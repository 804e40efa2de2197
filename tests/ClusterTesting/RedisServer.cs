using System.Diagnostics;
using AlisaCluster.Silo.Extensions;
using StackExchange.Redis;

namespace AlisaCluster.ClusterTesting;

/// <summary>A throw-away redis-server on a free port, without persistence (scripts/setup.sh installs it when
/// ALISA_SETUP_REDIS=1, as test.sh does). It can be killed and restarted on the same port, as an empty Redis.</summary>
public sealed class RedisServer : IAsyncDisposable
{
    private Process? _process;

    private RedisServer(int port) => Port = port;

    public int Port { get; }
    public string ConnectionString => $"127.0.0.1:{Port}";

    public static async Task<RedisServer> StartAsync()
    {
        var server = new RedisServer(FreePorts.Next());
        await server.RunAsync();
        return server;
    }

    /// <summary>kill -9, as a crashed Redis: everything in it is lost.</summary>
    public void Kill()
    {
        if (_process is { HasExited: false }) _process.Kill();
        _process?.WaitForExit(5000);
        _process?.Dispose();
        _process = null;
    }

    /// <summary>Starts Redis again on the same port, empty (as a restart without persistence).</summary>
    public Task RestartAsync() => RunAsync();

    private async Task RunAsync()
    {
        var start = new ProcessStartInfo("redis-server", ["--port", $"{Port}", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        {
            RedirectStandardOutput = true, RedirectStandardError = true,
        };
        try { _process = Process.Start(start)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("redis-server is not on PATH; run ALISA_SETUP_REDIS=1 scripts/setup.sh", e);
        }
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        // generous: the suite's test assemblies start in parallel on a loaded machine
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            try
            {
                await using var probe = await ConnectionMultiplexer.ConnectAsync(ConnectionString);
                await probe.GetDatabase().PingAsync();
                return;
            }
            catch (RedisConnectionException) when (DateTime.UtcNow < deadline && !_process.HasExited) { await Task.Delay(100); }
            catch (RedisConnectionException e)
            {
                string exit = _process.HasExited ? $"redis-server exited with code {_process.ExitCode}" : "redis-server did not answer in 30 s";
                Kill(); // no orphan redis-server after a failed start
                throw new InvalidOperationException($"{exit} (port {Port})", e);
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        Kill();
        return ValueTask.CompletedTask;
    }
}
