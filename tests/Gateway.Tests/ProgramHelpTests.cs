using AlisaCluster.ClusterTesting;

namespace AlisaCluster.Gateway.Tests;

public sealed class ProgramHelpTests
{
    [Fact]
    public async Task The_gateway_program_answers_help_with_its_settings_and_starts_nothing()
    {
        var (exitCode, output) = await ProgramHelp.RunAsync(RepoPaths.GatewayDll);
        Assert.Equal(0, exitCode);
        var lines = output.Split('\n');
        foreach (var line in new[] { "  --Cluster:Redis \"\"", "  --Gateway:GrpcPort 50051", "  --Gateway:ApiKeys:N:Key", "  --Gateway:AdmissionWait 00:00:02" })
            Assert.Contains(line, lines);
        Assert.DoesNotContain(lines, l => l.StartsWith("  --Cluster:SiloPort", StringComparison.Ordinal)); // a silo's setting, not a client's
        Assert.DoesNotContain("Now listening", output);
    }
}
