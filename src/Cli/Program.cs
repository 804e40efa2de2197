using AlisaCluster.Cli;
using AlisaCluster.Cli.Commands;
using Spectre.Console;

var commands = new Dictionary<string, Func<CommandLine, Task<int>>>
{
    ["generate"] = GenerateCommand.RunAsync,
    ["conformance"] = ConformanceCommand.RunAsync,
    ["bench"] = BenchCommand.RunAsync,
    ["eval"] = EvalCommand.RunAsync,
    ["eval-report"] = EvalReportCommand.RunAsync,
    ["bench-report"] = BenchReportCommand.RunAsync,
    ["calibrate"] = CalibrateCommand.RunAsync,
    ["demo"] = ClusterDemoCommand.RunAsync,
    ["load"] = LoadCommand.RunAsync,
    ["native-check"] = NativeCheckCommand.RunAsync,
};

if (args.Length == 0 || !commands.TryGetValue(args[0], out var command))
{
    AnsiConsole.MarkupLine("usage: alisa [bold]<command>[/] [[--option value ...]]");
    AnsiConsole.MarkupLine("commands: " + string.Join(", ", commands.Keys));
    return args.Length == 0 ? 0 : 2;
}
try
{
    return await command(CommandLine.Parse(args[1..]));
}
catch (Exception e) when (e is ArgumentException or FileNotFoundException or DirectoryNotFoundException or InvalidDataException or NotSupportedException)
{
    AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {e.Message}");
    return 1;
}
