# The gRPC gateway on the ASP.NET runtime image: the app from scripts/publish-gateway.sh, no SDK, non-root (the
# image's "app" user). It writes nothing outside /tmp, so it runs with a read-only root filesystem (the chart mounts
# an emptyDir at /tmp for the runtime's diagnostics socket).
#   docker build -f docker/gateway.Dockerfile -t REGISTRY/alisa/gateway:TAG .
ARG DOTNET_SDK=10.0
ARG DOTNET_RUNTIME=10.0

FROM mcr.microsoft.com/dotnet/sdk:${DOTNET_SDK} AS publish
WORKDIR /src
COPY . .
RUN bash scripts/publish-gateway.sh /out/gateway

FROM mcr.microsoft.com/dotnet/aspnet:${DOTNET_RUNTIME}
WORKDIR /app
COPY --from=publish /out/gateway /app
ENV HOME=/tmp \
    Gateway__GrpcPort=50051 \
    Gateway__HttpPort=8080
USER $APP_UID
EXPOSE 50051 8080
ENTRYPOINT ["dotnet", "/app/AlisaCluster.Gateway.dll"]
