using System.Diagnostics;

namespace AlisaCluster.Deploy.Tests;

/// <summary>Runs a program of the machine and collects what it printed.</summary>
public static class Tool
{
    public sealed record Result(int ExitCode, string Output, string Error);

    public static Result Run(string program, IEnumerable<string> arguments, string? workingDirectory = null, IDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDirectory ?? RepoPaths.Root };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) start.Environment[key] = value;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2))) { process.Kill(true); throw new TimeoutException($"{program} did not finish in 2 minutes"); }
        return new Result(process.ExitCode, output.Result, error.Result);
    }
}
