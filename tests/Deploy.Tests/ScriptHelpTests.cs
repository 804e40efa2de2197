namespace AlisaCluster.Deploy.Tests;

/// <summary>Every script of the repository answers --help with its header, whatever folder it is called from, and
/// does nothing else (the image builds, the GPU runs and CI call these scripts; an operator reads them by --help).</summary>
public sealed class ScriptHelpTests
{
    public static TheoryData<string> Scripts()
    {
        var scripts = new TheoryData<string>();
        foreach (var folder in new[] { "scripts", "bench", "native" })
            foreach (var path in Directory.EnumerateFiles(Path.Combine(RepoPaths.Root, folder), "*.sh").Order())
                if (Path.GetFileName(path) != "help.sh") scripts.Add(Path.GetRelativePath(RepoPaths.Root, path));
        scripts.Add("test.sh");
        return scripts;
    }

    [Theory]
    [MemberData(nameof(Scripts))]
    public void A_script_prints_its_header_for_help_and_runs_nothing(string script)
    {
        var path = Path.Combine(RepoPaths.Root, script);
        var lines = File.ReadAllLines(path);
        // checked before running it: a script without the hook would do its work (install packages, start a cluster)
        Assert.Contains(lines, l => l.StartsWith("source \"$(dirname \"$0\")/", StringComparison.Ordinal) && l.EndsWith("help.sh\"", StringComparison.Ordinal));
        var header = lines.Skip(1).TakeWhile(l => l.StartsWith('#')).Select(l => l.StartsWith("# ", StringComparison.Ordinal) ? l[2..] : l[1..]).ToList();
        Assert.NotEmpty(header);

        var run = Tool.Run("bash", [path, "--help"], workingDirectory: Path.GetTempPath());
        Assert.True(run.ExitCode == 0, $"{script} --help: exit {run.ExitCode}\n{run.Output}{run.Error}");
        Assert.Equal(header, run.Output.TrimEnd('\n').Split('\n'));
        Assert.Equal("", run.Error);
    }
}
