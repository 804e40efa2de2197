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
    ["silo"] = HostCommands.RunSiloAsync,
    ["gateway"] = HostCommands.RunGatewayAsync,
};

if (args.Length == 0 || args[0] is "--help" or "-h" or "help" || !commands.TryGetValue(args[0], out var command))
{
    Console.WriteLine(CommandHelp.Usage);
    if (args.Length > 0 && args[0] is not ("--help" or "-h" or "help")) AnsiConsole.MarkupLineInterpolated($"[red]error:[/] unknown command '{args[0]}'");
    return args.Length == 0 || args[0] is "--help" or "-h" or "help" ? 0 : 2;
}
if (args.Skip(1).Any(a => a is "--help" or "-h"))
{
    Console.WriteLine($"alisa {args[0]}: {CommandHelp.Texts[args[0]]}");
    return 0;
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
