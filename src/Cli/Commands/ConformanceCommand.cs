using System.Text.Json;
using AlisaCluster.GpuWorker.Diagnostics;
using Spectre.Console;

namespace AlisaCluster.Cli.Commands;

/// <summary>alisa conformance: compare a checkpoint's outputs with its transformers reference dump (any device).</summary>
public static class ConformanceCommand
{
    public static async Task<int> RunAsync(CommandLine args)
    {
        var folder = args.String("model") ?? ModelOptions.DefaultModelFolder;
        var reference = args.String("reference", Path.Combine(folder, "reference-outputs.json"));
        var output = args.String("out");
        using var model = ModelOptions.Load(args);
        args.RejectUnknown();
        var report = await ReferenceConformance.RunAsync(model, reference);
        var json = JsonSerializer.Serialize(report with { }, new JsonSerializerOptions { WriteIndented = true });
        Console.WriteLine(json);
        if (output is not null) await File.WriteAllTextAsync(output, json);
        AnsiConsole.MarkupLine(report.Passed ? "[green]conformance: passed[/]" : "[red]conformance: FAILED[/]");
        return report.Passed ? 0 : 1;
    }
}
