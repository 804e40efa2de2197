using AlisaCluster.Silo.Extensions;

var builder = Host.CreateApplicationBuilder(args);
builder.AddAlisaSilo();
await builder.Build().RunAsync();
