using System.Diagnostics;

namespace AlisaCluster.ClusterTesting;

/// <summary>Runs a program of the cluster (the silo, the gateway) with --help, as an operator would.</summary>
public static class ProgramHelp
{
    /// <summary>Exit code and standard output of `dotnet DLL --help`; a program that starts instead is killed after 30 s.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(string dll)
    {
        var start = new ProcessStartInfo("dotnet", [dll, "--help"]) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Path.GetTempPath() };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try { await process.WaitForExitAsync(timeout.Token); }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{Path.GetFileName(dll)} --help did not exit: it started instead\n{await output}{await error}");
        }
        return (process.ExitCode, await output + await error);
    }
}
