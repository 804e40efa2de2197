using AlisaCluster.Grains.Engines;
using AlisaCluster.Grains.Placement;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Hosting;

namespace AlisaCluster.Grains.Hosting;

public static class WorkerSiloBuilderExtensions
{
    /// <summary>Makes the silo a GPU worker: its engines, the placement directors, and the load poller they use.</summary>
    public static ISiloBuilder AddAlisaWorker(this ISiloBuilder silo, IConfiguration configuration)
    {
        silo.Services.Configure<WorkerOptions>(configuration.GetSection(WorkerOptions.Section));
        silo.Services.AddSingleton<EngineHost>();
        silo.Services.AddSingleton<WorkerLoadTable>();
        silo.Services.AddHostedService<WorkerLoadPoller>();
        silo.AddPlacementDirector<WorkerPlacementStrategy, WorkerPlacementDirector>();
        silo.AddPlacementDirector<SiloPinnedPlacementStrategy, SiloPinnedPlacementDirector>();
        silo.AddStartupTask((services, _) => { services.GetRequiredService<EngineHost>(); return Task.CompletedTask; });
        silo.Services.AddSingleton<WorkerDrain>();
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(s => s.GetRequiredService<WorkerDrain>());
        return silo;
    }
}
