namespace AlisaCluster.Deploy.Tests;

public static class RepoPaths
{
    public static string Root { get; } = FindRoot();
    public static string Chart => Path.Combine(Root, "helm", "alisa-cluster");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "AlisaCluster.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException("repository root (AlisaCluster.sln) not found above " + AppContext.BaseDirectory);
    }
}
