using AlisaCluster.Grains.Hosting;
using AlisaCluster.Silo.Extensions;

if (SettingsHelp.Asked(args))
{
    Console.WriteLine(SiloHostingExtensions.Help);
    return;
}

// appsettings.json is read from the program's folder, whatever the working directory
var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.AddAlisaSilo();
await builder.Build().RunAsync();
