namespace AlisaCluster.Grains;

/// <summary>Facts about the served model and its tokenizer, answered by whichever worker silo takes the call.</summary>
public interface IModelGrain : IGrainWithIntegerKey
{
    Task<ModelDescription> DescribeAsync();

    Task<int[]> TokenizeAsync(string text, bool addSpecialTokens);

    /// <summary>The checkpoint's chat template and the special tokens it refers to (tokenizer_config.json).</summary>
    Task<ChatTemplateSource> ChatTemplateAsync();
}

/// <summary>A checkpoint's Jinja chat_template (null when it has none) with its bos_token and eos_token.</summary>
[GenerateSerializer, Immutable]
public sealed record ChatTemplateSource(
    [property: Id(0)] string? Template,
    [property: Id(1)] string BosToken,
    [property: Id(2)] string EosToken);

[GenerateSerializer, Immutable]
public sealed record ModelDescription(
    [property: Id(0)] string Name,
    [property: Id(1)] int VocabSize,
    [property: Id(2)] int MaxContextLength,
    [property: Id(3)] int EosTokenId,
    [property: Id(4)] string DefaultKvPolicy);
