using AlisaCluster.Gateway.Extensions;
using AlisaCluster.Grains;

namespace AlisaCluster.Gateway.Models;

/// <summary>Model facts (cached: they do not change while the cluster runs) and tokenization, from the workers.</summary>
public sealed class ModelCatalog(IClusterClient cluster, GatewayResilience resilience)
{
    private ModelDescription? _model;
    private ChatTemplateSource? _chatTemplate;

    public async Task<ModelDescription> DescribeAsync(CancellationToken cancellationToken) =>
        _model ??= await resilience.GrainReads.ExecuteAsync(
            async token => await cluster.GetGrain<IModelGrain>(0).DescribeAsync().WaitAsync(token), cancellationToken);

    public async Task<ChatTemplateSource> ChatTemplateAsync(CancellationToken cancellationToken) =>
        _chatTemplate ??= await resilience.GrainReads.ExecuteAsync(
            async token => await cluster.GetGrain<IModelGrain>(0).ChatTemplateAsync().WaitAsync(token), cancellationToken);

    public async Task<int[]> TokenizeAsync(string text, bool addSpecialTokens, CancellationToken cancellationToken) =>
        await resilience.GrainReads.ExecuteAsync(
            async token => await cluster.GetGrain<IModelGrain>(0).TokenizeAsync(text, addSpecialTokens).WaitAsync(token), cancellationToken);
}
