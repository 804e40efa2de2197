using AlisaCluster.ClusterTesting;

namespace AlisaCluster.Gateway.Tests;

public sealed class ProgramHelpTests
{
    [Fact]
    public Task The_gateway_program_answers_help_with_its_settings_and_starts_nothing() => ProgramHelp.AssertListsAsync(RepoPaths.GatewayDll,
        ["  --Cluster:Redis \"\"", "  --Gateway:GrpcPort 50051", "  --Gateway:ApiKeys:N:Key", "  --Gateway:AdmissionWait 00:00:02"],
        absent: ["  --Cluster:SiloPort", "  --Worker:"]); // a silo's settings, not an Orleans client's
}
