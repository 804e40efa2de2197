using AlisaCluster.Grains.Engines;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace AlisaCluster.Grains.Models;

/// <summary>Answers model facts and tokenization from the local engine's model; stateless, so any silo that takes
/// the call serves it (and a lost silo costs nothing but a retry).</summary>
[StatelessWorker]
public sealed class ModelGrain(EngineHost engines, IOptions<WorkerOptions> options) : Grain, IModelGrain
{
    public Task<ModelDescription> DescribeAsync()
    {
        var model = engines.Model;
        return Task.FromResult(new ModelDescription(model.Name, model.Config.VocabSize, model.Config.MaxPositions,
            model.Config.EosTokenId, engines.DefaultPolicy.ToString()));
    }

    public Task<int[]> TokenizeAsync(string text, bool addSpecialTokens) =>
        Task.FromResult(engines.Model.Tokenizer.Encode(text, addSpecialTokens).ToArray());

    public Task<ChatTemplateSource> ChatTemplateAsync() =>
        Task.FromResult(TokenizerConfig.ReadChatTemplate(ModelFolder.Resolve(options.Value.Model)));
}
