namespace AlisaCluster.Grains;

/// <summary>Facts about the served model and its tokenizer, answered by whichever worker silo takes the call.</summary>
public interface IModelGrain : IGrainWithIntegerKey
{
    Task<ModelDescription> DescribeAsync();

    Task<int[]> TokenizeAsync(string text, bool addSpecialTokens);
}

[GenerateSerializer, Immutable]
public sealed record ModelDescription(
    [property: Id(0)] string Name,
    [property: Id(1)] int VocabSize,
    [property: Id(2)] int MaxContextLength,
    [property: Id(3)] int EosTokenId,
    [property: Id(4)] string DefaultKvPolicy);
