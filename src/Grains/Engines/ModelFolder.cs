namespace AlisaCluster.Grains.Engines;

/// <summary>Finds the bundled tiny model when the configuration names none.</summary>
public static class ModelFolder
{
    public static string Resolve(string configured)
    {
        if (!string.IsNullOrWhiteSpace(configured)) return configured;
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "models", "tiny-llama");
                if (Directory.Exists(candidate)) return candidate;
            }
        }
        throw new DirectoryNotFoundException("no models/tiny-llama above the working directory; set Worker:Model");
    }
}
