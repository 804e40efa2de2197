using System.Text.Json;
using AlisaCluster.GpuWorker.Tokenization;

namespace AlisaCluster.GpuWorker.Tests.Tokenization;

/// <summary>Our tokenizer against transformers' ids (models/*/tokenizer-reference.json, written by
/// tools/make_family_checkpoints.py): hard strings and every non-empty line of the held-out texts, for every family.</summary>
public sealed class TokenizerReferenceTests
{
    public static TheoryData<string> ModelNames => new(TinyModels.Names);

    private static JsonElement Reference(string model) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(RepoPaths.Model(model), "tokenizer-reference.json"))).RootElement;

    private static HfTokenizer Load(string model) => HfTokenizer.Load(Path.Combine(RepoPaths.Model(model), "tokenizer.json"));

    private static int[] Ids(JsonElement array) => array.EnumerateArray().Select(e => e.GetInt32()).ToArray();

    [Theory, MemberData(nameof(ModelNames))]
    public void HardStrings_EncodeAndDecodeAsTransformers(string model)
    {
        using var tokenizer = Load(model);
        int checkedStrings = 0;
        foreach (var hard in Reference(model).GetProperty("hard_strings").EnumerateArray())
        {
            if (!hard.TryGetProperty("text", out var text)) continue;
            var ids = Ids(hard.GetProperty("ids"));
            Assert.Equal(ids, tokenizer.Encode(text.GetString()!, addSpecialTokens: false));
            Assert.Equal(hard.GetProperty("decoded").GetString(), tokenizer.Decode(ids));
            checkedStrings++;
        }
        Assert.True(checkedStrings >= 15, $"only {checkedStrings} hard strings");
    }

    [Theory, MemberData(nameof(ModelNames))]
    public void InvalidSurrogates_AreRefusedAsTransformersRefusesThem(string model)
    {
        using var tokenizer = Load(model);
        var invalid = Reference(model).GetProperty("hard_strings").EnumerateArray().Where(h => h.TryGetProperty("utf16", out _)).ToList();
        Assert.NotEmpty(invalid);
        foreach (var hard in invalid)
        {
            Assert.NotEqual(JsonValueKind.Null, hard.GetProperty("error").ValueKind); // transformers refused it too
            var text = new string(hard.GetProperty("utf16").EnumerateArray().Select(u => (char)u.GetInt32()).ToArray());
            Assert.Contains("lone UTF-16 surrogate", Assert.Throws<ArgumentException>(() => tokenizer.Encode(text)).Message);
        }
    }

    [Theory, MemberData(nameof(ModelNames))]
    public void HeldoutLines_EncodeAsTransformers(string model)
    {
        using var tokenizer = Load(model);
        var heldout = Reference(model).GetProperty("heldout");
        var lines = heldout.GetProperty("files").EnumerateArray()
            .SelectMany(file => File.ReadAllLines(Path.Combine(RepoPaths.Root, "data", file.GetString()!)).Where(l => l.Trim().Length > 0))
            .ToList();
        var expected = heldout.GetProperty("ids").EnumerateArray().Select(Ids).ToList();
        Assert.Equal(expected.Count, lines.Count);
        Assert.True(lines.Count > 1300);
        var mismatches = Enumerable.Range(0, lines.Count).Where(i => !expected[i].SequenceEqual(tokenizer.Encode(lines[i]))).ToList();
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} of {lines.Count} lines differ, first: {(mismatches.Count > 0 ? lines[mismatches[0]] : "")}");
    }
}
