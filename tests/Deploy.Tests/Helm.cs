namespace AlisaCluster.Deploy.Tests;

/// <summary>helm v4, as scripts/fetch-helm.sh installs it (./test.sh runs it through scripts/setup.sh): ALISA_HELM,
/// else the cached copy, else helm on PATH. Missing helm fails the tests: the chart is never left untested.</summary>
public static class Helm
{
    private static readonly Lazy<string> Path_ = new(Find);

    public static string Path => Path_.Value;

    private static string Find()
    {
        var candidates = new[]
        {
            Environment.GetEnvironmentVariable("ALISA_HELM"),
            System.IO.Path.Combine(Environment.GetEnvironmentVariable("ALISA_TOOLS")
                ?? System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "alisa", "tools"), "helm-layer-v33-2.2.2", "helm"),
        };
        var found = candidates.FirstOrDefault(c => !string.IsNullOrEmpty(c) && File.Exists(c));
        if (found is not null) return found;
        try
        {
            if (Tool.Run("helm", ["version", "--short"]).Output.StartsWith("v4.", StringComparison.Ordinal)) return "helm";
        }
        catch (System.ComponentModel.Win32Exception) { }
        throw new InvalidOperationException("helm v4 not found: run `bash scripts/fetch-helm.sh` (./test.sh does it through scripts/setup.sh) or set ALISA_HELM");
    }

    public static Tool.Result Lint(params string[] arguments) => Tool.Run(Path, ["lint", "--strict", RepoPaths.Chart, .. arguments]);

    /// <summary>helm template with the given arguments (--set, -f); throws with helm's message when it refuses.</summary>
    public static Manifests Template(params string[] arguments)
    {
        var result = TryTemplate(arguments);
        if (result.ExitCode != 0) throw new InvalidOperationException($"helm template {string.Join(' ', arguments)} failed:\n{result.Error}");
        return Manifests.Parse(result.Output);
    }

    public static Tool.Result TryTemplate(params string[] arguments) =>
        Tool.Run(Path, ["template", "test", RepoPaths.Chart, "--namespace", "serving", .. arguments]);

    public static string ProductionValues => System.IO.Path.Combine(RepoPaths.Chart, "values-production.yaml");
}
