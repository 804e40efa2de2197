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
    public static string SiloDll
    {
        get
        {
            var framework = Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory); // tests/X/bin/<configuration>/net10.0
            var configuration = Path.GetFileName(Path.GetDirectoryName(framework)!);
            var path = Path.Combine(Root, "src", "Silo", "bin", configuration, "net10.0", "AlisaCluster.Silo.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException("build the silo first", path);
        }
    }
}
