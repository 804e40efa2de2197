using AlisaCluster.ClusterTesting;

namespace AlisaCluster.Silo.Tests;

public sealed class ProgramHelpTests
{
    [Fact]
    public Task The_silo_program_answers_help_with_its_settings_and_starts_nothing() => ProgramHelp.AssertListsAsync(RepoPaths.SiloDll,
        ["  --Cluster:Redis \"\"", "  --Cluster:Tls:CaPath \"\"", "  --Worker:GpuMemoryUtilization 0.9",
         "  --Worker:Devices:0 VALUE  (a list: :0, :1, ...)", "  --Worker:DrainTimeout 00:00:20", "  --Silo:HttpPort 0"],
        absent: ["  --Gateway:"]);
}
