using AlisaCluster.Gateway.Extensions;

var builder = WebApplication.CreateBuilder(args);
builder.AddAlisaGateway();

var app = builder.Build();
app.MapAlisaGateway();
app.Run();
