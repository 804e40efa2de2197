using AlisaCluster.Protos;
using Grpc.Core;
using static AlisaCluster.ClusterTesting.InProcessCluster;

namespace AlisaCluster.Gateway.Tests.Grpc;

[Collection(DevClusterCollection.Name)]
public sealed class AuthTests(DevClusterFixture fixture)
{
    [Fact]
    public async Task Missing_key_is_unauthenticated()
    {
        var error = await Assert.ThrowsAsync<RpcException>(async () => await fixture.Cluster.Client().GetModelInfoAsync(new GetModelInfoRequest()));
        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
        Assert.Contains("authorization", error.Status.Detail);
    }

    [Fact]
    public async Task Unknown_key_is_unauthenticated_for_a_stream()
    {
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var call = fixture.Cluster.Client().Generate(new GenerateRequest { Text = "hi" }, WithKey("not-a-key"));
            await foreach (var _ in call.ResponseStream.ReadAllAsync()) { }
        });
        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
        Assert.Equal("unknown API key", error.Status.Detail);
    }

    [Fact]
    public async Task Malformed_header_is_unauthenticated()
    {
        var headers = new Metadata { { "authorization", "Basic dXNlcjpwdw==" } };
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
            await fixture.Cluster.Client().TokenizeAsync(new TokenizeRequest { Text = "hi" }, headers));
        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
    }

    [Fact]
    public async Task Known_key_is_served()
    {
        var tokens = await fixture.Cluster.Client().TokenizeAsync(new TokenizeRequest { Text = "hi" }, WithKey(DevClusterFixture.SoloKey));
        Assert.True(tokens.Count > 0);
    }
}
