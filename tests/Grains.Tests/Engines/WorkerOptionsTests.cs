using AlisaCluster.Grains.Engines;
using Microsoft.Extensions.Configuration;

namespace AlisaCluster.Grains.Tests.Engines;

/// <summary>The Worker section as the silo binds it: layered sources (appsettings.json, then environment variables)
/// must give exactly the devices configured, one engine each.</summary>
public sealed class WorkerOptionsTests
{
    private static WorkerOptions Bind(params Dictionary<string, string?>[] layers)
    {
        var builder = new ConfigurationBuilder();
        foreach (var layer in layers) builder.AddInMemoryCollection(layer);
        var options = new WorkerOptions();   // as IOptions<WorkerOptions> binds it
        builder.Build().GetSection(WorkerOptions.Section).Bind(options);
        return options;
    }

    [Fact]
    public void Configured_devices_are_the_engines_and_no_default_is_added()
    {
        var appsettings = new Dictionary<string, string?> { ["Worker:Devices:0"] = "auto" };
        var environment = new Dictionary<string, string?> { ["Worker:Devices:0"] = "cuda:0", ["Worker:Devices:1"] = "cuda:1" };
        Assert.Equal(["auto"], Bind(appsettings).DeviceList());
        Assert.Equal(["cuda:0", "cuda:1"], Bind(appsettings, environment).DeviceList());
        Assert.Equal(["auto"], Bind().DeviceList());
    }

    [Fact]
    public void The_kv_pool_is_sized_from_the_gpu_memory_share_unless_tokens_are_given()
    {
        var options = Bind();
        Assert.Equal(0, options.KvCapacityTokens);
        Assert.Equal(0.9, options.GpuMemoryUtilization);
        Assert.Equal(4096, Bind(new Dictionary<string, string?> { ["Worker:KvCapacityTokens"] = "4096" }).KvCapacityTokens);
    }
}
