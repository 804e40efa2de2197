namespace AlisaCluster.ClusterTesting;

public static class RepoPaths
{
    public static string Root
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "AlisaCluster.sln"))) return dir.FullName;
            throw new DirectoryNotFoundException("AlisaCluster.sln not found above the test binaries");
        }
    }

    public static string TinyModel => Path.Combine(Root, "models", "tiny-llama");

    /// <summary>The silo program built alongside the tests (same configuration: Debug or Release).</summary>
    public static string SiloDll => ProgramDll("Silo", "AlisaCluster.Silo.dll");

    /// <summary>The gateway program built alongside the tests.</summary>
    public static string GatewayDll => ProgramDll("Gateway", "AlisaCluster.Gateway.dll");

    private static string ProgramDll(string project, string assembly)
    {
        var framework = Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory); // tests/X/bin/<configuration>/net10.0
        var configuration = Path.GetFileName(Path.GetDirectoryName(framework)!);
        var path = Path.Combine(Root, "src", project, "bin", configuration, "net10.0", assembly);
        return File.Exists(path) ? path : throw new FileNotFoundException($"build {project} first", path);
    }
}
