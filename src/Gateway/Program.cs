using AlisaCluster.Gateway.Extensions;

// appsettings.json is read from the program's folder, whatever the working directory
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.AddAlisaGateway();

var app = builder.Build();
app.MapAlisaGateway();
app.Run();
