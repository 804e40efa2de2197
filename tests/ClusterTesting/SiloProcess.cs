using System.Collections.Concurrent;
using System.Diagnostics;
using AlisaCluster.Silo.Extensions;

namespace AlisaCluster.ClusterTesting;

/// <summary>A worker silo as its own process (the real program), so a test can kill it like a crashed machine.</summary>
public sealed class SiloProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _log = new();

    private SiloProcess(Process process, int siloPort, int gatewayPort)
    {
        _process = process;
        SiloPort = siloPort;
        GatewayPort = gatewayPort;
    }

    public int SiloPort { get; }
    public int GatewayPort { get; }
    public int ProcessId => _process.Id;
    public bool HasExited => _process.HasExited;
    public string Log => string.Join('\n', _log);

    /// <summary>Starts a Redis-clustered silo and waits until its host has started.</summary>
    public static async Task<SiloProcess> StartAsync(string redis, string clusterId, IReadOnlyDictionary<string, string>? settings = null)
    {
        int siloPort = FreePorts.Next(), gatewayPort = FreePorts.Next();
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = RepoPaths.Root };
        var all = new Dictionary<string, string>
        {
            ["Cluster:Redis"] = redis, ["Cluster:ClusterId"] = clusterId, ["Cluster:ServiceId"] = clusterId,
            ["Cluster:SiloPort"] = $"{siloPort}", ["Cluster:GatewayPort"] = $"{gatewayPort}",
            ["Worker:Model"] = RepoPaths.TinyModel, ["Worker:Threads"] = "1", ["Worker:KvCapacityTokens"] = "4096",
            ["Logging:LogLevel:Default"] = "Information", ["Logging:LogLevel:Orleans"] = "Warning", ["Logging:Console:FormatterName"] = "simple",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string>()) all[key] = value;
        start.ArgumentList.Add(RepoPaths.SiloDll);
        foreach (var (key, value) in all) { start.ArgumentList.Add($"--{key}"); start.ArgumentList.Add(value); }
        var silo = new SiloProcess(Process.Start(start)!, siloPort, gatewayPort);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void Collect(string? line)
        {
            if (line is null) return;
            silo._log.Enqueue(line);
            if (line.Contains("Application started")) started.TrySetResult();
        }
        silo._process.OutputDataReceived += (_, e) => Collect(e.Data);
        silo._process.ErrorDataReceived += (_, e) => Collect(e.Data);
        silo._process.BeginOutputReadLine();
        silo._process.BeginErrorReadLine();
        var exited = silo._process.WaitForExitAsync();
        if (await Task.WhenAny(started.Task, exited, Task.Delay(TimeSpan.FromSeconds(60))) != started.Task)
            throw new InvalidOperationException($"silo did not start:\n{silo.Log}");
        return silo;
    }

    /// <summary>SIGTERM, as Kubernetes stops a pod: the silo drains and shuts down gracefully.</summary>
    public void Terminate() => Process.Start("kill", ["-TERM", $"{_process.Id}"])!.WaitForExit();

    public Task WaitForExitAsync(TimeSpan timeout) => _process.WaitForExitAsync().WaitAsync(timeout);

    /// <summary>Kills the process at once: no drain, no goodbye to the cluster.</summary>
    public void Kill()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.WaitForExit(10000);
    }

    public ValueTask DisposeAsync()
    {
        Kill();
        _process.Dispose();
        return ValueTask.CompletedTask;
    }
}
