using System.Diagnostics;
using Xunit;

namespace AlisaCluster.ClusterTesting;

/// <summary>Runs a program of the cluster (the silo, the gateway) with --help, as an operator would.</summary>
public static class ProgramHelp
{
    /// <summary>Asserts that `dotnet DLL --help` exits 0 at once, printing every line of <paramref name="listed"/> and no
    /// line that starts with one of <paramref name="absent"/>; a program that starts instead is killed after 30 s.</summary>
    public static async Task AssertListsAsync(string dll, string[] listed, string[] absent)
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
        Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}\n{await output}{await error}");
        var lines = (await output).Split('\n');
        Assert.All(listed, line => Assert.Contains(line, lines));
        Assert.All(absent, prefix => Assert.DoesNotContain(lines, l => l.StartsWith(prefix, StringComparison.Ordinal)));
        Assert.Equal("", await error);
    }
}
