using AlisaCluster.ClusterTesting;

namespace AlisaCluster.Silo.Tests;

public sealed class ProgramHelpTests
{
    [Fact]
    public async Task The_silo_program_answers_help_with_its_settings_and_starts_nothing()
    {
        var (exitCode, output) = await ProgramHelp.RunAsync(RepoPaths.SiloDll);
        Assert.Equal(0, exitCode);
        foreach (var line in new[] { "  --Cluster:Redis \"\"", "  --Cluster:Tls:CaPath \"\"", "  --Worker:GpuMemoryUtilization 0.9",
                     "  --Worker:Devices:0 VALUE  (a list: :0, :1, ...)", "  --Worker:DrainTimeout 00:00:20", "  --Silo:HttpPort 0" })
            Assert.Contains(line, output.Split('\n'));
        Assert.DoesNotContain("Application started", output);
    }
}
