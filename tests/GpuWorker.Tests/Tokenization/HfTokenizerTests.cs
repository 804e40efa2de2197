using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using AlisaCluster.GpuWorker.Tokenization;

namespace AlisaCluster.GpuWorker.Tests.Tokenization;

public sealed class HfTokenizerTests
{
    private static readonly Lazy<HfTokenizer> Llama = new(() => HfTokenizer.Load(TokenizerPath("tiny-llama")));

    private static string TokenizerPath(string model) => Path.Combine(RepoPaths.Model(model), "tokenizer.json");

    public static TheoryData<string> ModelNames => new(TinyModels.Names);

    private static int[] Ids(JsonElement array) => array.EnumerateArray().Select(e => e.GetInt32()).ToArray();

    [Theory, MemberData(nameof(ModelNames))]
    public void Encode_MatchesTransformersForEveryReferencePrompt(string model)
    {
        using var tokenizer = HfTokenizer.Load(TokenizerPath(model));
        foreach (var prompt in TinyModels.Reference(model).GetProperty("public").EnumerateArray())
            Assert.Equal(Ids(prompt.GetProperty("input_ids")), tokenizer.Encode(prompt.GetProperty("prompt").GetString()!));
    }

    [Theory, MemberData(nameof(ModelNames))]
    public void Decode_OfGreedyIds_MatchesTransformersText_LessSpecialTokens(string model)
    {
        // the reference text was decoded with skip_special_tokens=False; Decode skips them
        using var tokenizer = HfTokenizer.Load(TokenizerPath(model));
        var specials = JsonNode.Parse(File.ReadAllText(TokenizerPath(model)))!["added_tokens"]!.AsArray()
            .Where(t => (bool)t!["special"]!).Select(t => (string)t!["content"]!).ToList();
        foreach (var prompt in TinyModels.Reference(model).GetProperty("public").EnumerateArray())
            Assert.Equal(specials.Aggregate(prompt.GetProperty("greedy_40_text").GetString()!, (text, special) => text.Replace(special, "")),
                tokenizer.Decode(Ids(prompt.GetProperty("greedy_40_ids"))));
    }

    [Theory, MemberData(nameof(ModelNames))]
    public void Window512_IsTheFirstWindowOfTheHeldoutText(string model)
    {
        // The reference encoded data/heldout-kjv.txt per paragraph ("\n\n"-separated, blank ones dropped), with the
        // tokenizer's special tokens (BOS where the family adds one) and config.json's EOS after each, and took 512 tokens.
        using var tokenizer = HfTokenizer.Load(TokenizerPath(model));
        int eos = AlisaCluster.GpuWorker.Model.ModelConfig.Load(Path.Combine(RepoPaths.Model(model), "config.json")).EosTokenId;
        var window = Ids(TinyModels.Reference(model).GetProperty("window512").GetProperty("input_ids"));
        var tokens = File.ReadAllText(Path.Combine(RepoPaths.Root, "data", "heldout-kjv.txt")).Split("\n\n")
            .Where(paragraph => !string.IsNullOrWhiteSpace(paragraph))
            .SelectMany(paragraph => tokenizer.Encode(paragraph).Append(eos));
        Assert.Equal(window, tokens.Take(window.Length));
    }

    [Fact]
    public void Encode_Of85KilobyteText_TakesWellUnderASecond_AndRoundTrips()
    {
        var text = File.ReadAllText(Path.Combine(RepoPaths.Root, "data", "heldout-kjv.txt"));
        var clock = Stopwatch.StartNew();
        var ids = Llama.Value.Encode(text);
        clock.Stop();
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"encoding {text.Length} characters took {clock.Elapsed}");
        Assert.Equal(text, Llama.Value.Decode(ids));
    }

    [Fact]
    public void Encode_SplitsSpecialTokenLiteralsOutOfTheText_AndStripsOnlyTheTemplateWithoutSpecialTokens()
    {
        var withSpecials = Llama.Value.Encode("a</s>b");
        Assert.Equal(1, withSpecials[0]); // BOS from the template
        Assert.Equal(2, withSpecials[2]); // the literal "</s>"
        Assert.Equal(withSpecials.Skip(1), Llama.Value.Encode("a</s>b", addSpecialTokens: false));
        Assert.Equal([1], Llama.Value.Encode(""));
        Assert.Empty(Llama.Value.Encode("", addSpecialTokens: false));
    }

    [Theory]
    [InlineData("café ✓ 日本")]
    [InlineData("emoji 😀👍🏽, math 𝐀𝐁𝐂 and tabs\t\tand\r\nnew lines  \n\n")]
    [InlineData("  leading and trailing spaces   ")]
    public void EncodeThenDecode_RoundTripsUnicode(string text)
    {
        var ids = Llama.Value.Encode(text, addSpecialTokens: false);
        Assert.Equal(text, Llama.Value.Decode(ids));
    }

    [Fact]
    public void Decode_SkipsSpecialTokens_AndMarksBrokenUtf8WithReplacementCharacters()
    {
        Assert.Equal("ab", Llama.Value.Decode(Llama.Value.Encode("a</s>b")));
        var emoji = Llama.Value.Encode("😀", addSpecialTokens: false); // four UTF-8 bytes, more than one token here
        Assert.True(emoji.Count > 1);
        Assert.Contains('\uFFFD', Llama.Value.Decode([emoji[0]]));
        Assert.Equal("😀", Llama.Value.Decode(emoji));
    }

    [Fact]
    public void Encode_RefusesALoneSurrogate_NamingWhereItIs()
    {
        var error = Assert.Throws<ArgumentException>(() => Llama.Value.Encode("ok \uD800 then"));
        Assert.Contains("lone UTF-16 surrogate (U+D800) at index 3", error.Message);
    }

    [Fact]
    public void StreamingDetokenizer_PiecesAddUpToTheWholeDecode_AndNeverSplitACharacter()
    {
        var text = "In the beginning 😀 日本語 café — “quoted” \t tabs";
        var ids = Llama.Value.Encode(text, addSpecialTokens: false);
        var streamer = new StreamingDetokenizer(Llama.Value);
        var pieces = new List<string>();
        for (int n = 1; n <= ids.Count; n++) pieces.Add(streamer.Next(ids.Take(n).ToList(), final: n == ids.Count));
        Assert.Equal(text, string.Concat(pieces));
        Assert.DoesNotContain(pieces, p => p.Contains('\uFFFD'));
    }

    [Fact]
    public void StreamingDetokenizer_FlushesAnIncompleteCharacterAtTheEnd_AsTheWholeDecodeShowsIt()
    {
        var ids = Llama.Value.Encode("x 😀", addSpecialTokens: false).SkipLast(1).ToList(); // the emoji's last byte(s) missing
        var streamer = new StreamingDetokenizer(Llama.Value);
        Assert.Equal("", streamer.Next(ids, final: false));
        Assert.Equal(Llama.Value.Decode(ids), streamer.Next(ids, final: true));
    }

    [Fact]
    public void Load_DropsTruncationAndPadding_AsTransformersDoes()
    {
        var folder = Directory.CreateTempSubdirectory("alisa-tokenizer").FullName;
        try
        {
            var json = JsonNode.Parse(File.ReadAllText(TokenizerPath("tiny-llama")))!.AsObject();
            json["truncation"] = JsonNode.Parse("""{"direction":"Right","max_length":3,"strategy":"LongestFirst","stride":0}""");
            var path = Path.Combine(folder, "tokenizer.json");
            File.WriteAllText(path, json.ToJsonString());
            using var truncating = HfTokenizer.Load(path);
            const string text = "In the beginning God created the heaven";
            Assert.True(Llama.Value.Encode(text).Count > 3);
            Assert.Equal(Llama.Value.Encode(text), truncating.Encode(text));
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void Load_NamesTheFileThatIsMissingOrBroken()
    {
        var missing = Path.Combine(Path.GetTempPath(), "no-such-dir", "tokenizer.json");
        Assert.Contains(missing, Assert.Throws<FileNotFoundException>(() => HfTokenizer.Load(missing)).Message);
        var broken = Path.Combine(Path.GetTempPath(), $"broken-{Guid.NewGuid():N}.json");
        File.WriteAllText(broken, """{"model": {"type": "NoSuchModel"}}""");
        try { Assert.Contains(broken, Assert.Throws<InvalidDataException>(() => HfTokenizer.Load(broken)).Message); }
        finally { File.Delete(broken); }
    }
}
