using AlisaCluster.Gateway.Extensions;
using AlisaCluster.Grains.Hosting;

if (SettingsHelp.Asked(args))
{
    Console.WriteLine(GatewayServiceExtensions.Help);
    return;
}

// appsettings.json is read from the program's folder, whatever the working directory
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.AddAlisaGateway();

var app = builder.Build();
app.MapAlisaGateway();
app.Run();
