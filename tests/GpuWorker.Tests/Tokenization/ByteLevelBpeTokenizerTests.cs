using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using AlisaCluster.GpuWorker.Tokenization;

namespace AlisaCluster.GpuWorker.Tests.Tokenization;

public sealed class ByteLevelBpeTokenizerTests
{
    private static readonly string LlamaTokenizerPath = TokenizerPath("tiny-llama");
    private static readonly Lazy<ByteLevelBpeTokenizer> Llama = new(() => ByteLevelBpeTokenizer.Load(LlamaTokenizerPath));

    private static string TokenizerPath(string model) => Path.Combine(RepoPaths.Model(model), "tokenizer.json");

    public static TheoryData<string> ModelNames => new(TinyModels.Names);

    private static int[] Ids(JsonElement array) => array.EnumerateArray().Select(e => e.GetInt32()).ToArray();

    [Theory, MemberData(nameof(ModelNames))]
    public void Encode_MatchesTransformersForEveryReferencePrompt(string model)
    {
        var tokenizer = ByteLevelBpeTokenizer.Load(TokenizerPath(model));
        foreach (var prompt in TinyModels.Reference(model).GetProperty("public").EnumerateArray())
            Assert.Equal(Ids(prompt.GetProperty("input_ids")), tokenizer.Encode(prompt.GetProperty("prompt").GetString()!));
    }

    [Theory, MemberData(nameof(ModelNames))]
    public void Decode_OfGreedyIds_MatchesTransformersTextWithSpecialTokens(string model)
    {
        var tokenizer = ByteLevelBpeTokenizer.Load(TokenizerPath(model));
        foreach (var prompt in TinyModels.Reference(model).GetProperty("public").EnumerateArray())
            Assert.Equal(prompt.GetProperty("greedy_40_text").GetString(), tokenizer.Decode(Ids(prompt.GetProperty("greedy_40_ids"))));
    }

    [Theory, MemberData(nameof(ModelNames))]
    public void Window512_DecodesToTextThatReencodesToTheSameIds(string model)
    {
        var tokenizer = ByteLevelBpeTokenizer.Load(TokenizerPath(model));
        var window = Ids(TinyModels.Reference(model).GetProperty("window512").GetProperty("input_ids"));
        var body = window[0] == tokenizer.BosTokenId ? window[1..] : window;
        Assert.Equal(body, tokenizer.Encode(tokenizer.Decode(body), addSpecialTokens: false));
    }

    [Theory, MemberData(nameof(ModelNames))]
    public void Window512_IsTheFirstWindowOfTheHeldoutText(string model)
    {
        // The reference encoded data/heldout-kjv.txt per paragraph ("\n\n"-separated, blank ones dropped), BOS before
        // and EOS after each, and took the first 512 tokens.
        var tokenizer = ByteLevelBpeTokenizer.Load(TokenizerPath(model));
        var window = Ids(TinyModels.Reference(model).GetProperty("window512").GetProperty("input_ids"));
        var tokens = File.ReadAllText(Path.Combine(RepoPaths.Root, "data", "heldout-kjv.txt")).Split("\n\n")
            .Where(paragraph => !string.IsNullOrWhiteSpace(paragraph))
            .SelectMany(paragraph => tokenizer.Encode(paragraph).Append(tokenizer.EosTokenId!.Value));
        Assert.Equal(window, tokens.Take(window.Length));
    }

    [Fact]
    public void Encode_Of85KilobyteText_TakesWellUnderASecond()
    {
        var tokenizer = ByteLevelBpeTokenizer.Load(LlamaTokenizerPath); // fresh, so its word cache starts empty
        var text = File.ReadAllText(Path.Combine(RepoPaths.Root, "data", "heldout-kjv.txt"));
        var clock = Stopwatch.StartNew();
        var ids = tokenizer.Encode(text);
        clock.Stop();
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"encoding {text.Length} characters took {clock.Elapsed}");
        Assert.Equal(text, tokenizer.Decode(ids, skipSpecialTokens: true));
    }

    [Fact]
    public void Properties_DescribeTheTinyLlamaTokenizer()
    {
        var tokenizer = Llama.Value;
        Assert.Equal(4096, tokenizer.VocabSize);
        Assert.Equal(1, tokenizer.BosTokenId);
        Assert.Equal(2, tokenizer.EosTokenId);
        Assert.Equal(263, tokenizer.TokenToId("Ġthe"));
        Assert.Equal("Ġthe", tokenizer.IdToToken(263));
        Assert.Equal("</s>", tokenizer.IdToToken(2));
        Assert.Null(tokenizer.TokenToId("no such token"));
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.IdToToken(4096));
    }

    [Fact]
    public void Encode_SplitsSpecialTokenLiteralsOutOfTheText()
    {
        var tokenizer = Llama.Value;
        int a = tokenizer.TokenToId("a")!.Value, b = tokenizer.TokenToId("b")!.Value;
        Assert.Equal([1, a, 2, b], tokenizer.Encode("a</s>b"));
        Assert.Equal([a, 2, 1, b], tokenizer.Encode("a</s><s>b", addSpecialTokens: false));
    }

    [Fact]
    public void Encode_OfEmptyText_IsJustBos()
    {
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
    public void Decode_SkipsSpecialTokensOnRequest_AndMarksBrokenUtf8WithReplacementCharacters()
    {
        var tokenizer = Llama.Value;
        var ids = tokenizer.Encode("a</s>b");
        Assert.Equal("<s>a</s>b", tokenizer.Decode(ids));
        Assert.Equal("ab", tokenizer.Decode(ids, skipSpecialTokens: true));
        int firstByteOfTwoByteChar = tokenizer.TokenToId("Ã")!.Value; // byte 0xC3, as in "é" = C3 A9
        Assert.Equal("\uFFFDb", tokenizer.Decode([firstByteOfTwoByteChar, tokenizer.TokenToId("b")!.Value]));
    }

    [Fact]
    public void DecodeIncrement_HoldsBackSplitCharacters_AndAddsUpToDecode()
    {
        var tokenizer = Llama.Value;
        var ids = tokenizer.Encode("Sing 日本語 ✓ — café 😀!", addSpecialTokens: false).Append(2).ToArray();
        Assert.Contains(ids, id => tokenizer.Decode([id]).Contains('\uFFFD')); // some character spans tokens

        var streamed = new List<string>();
        int emitted = 0;
        for (int generated = 1; generated <= ids.Length; generated++)
        {
            streamed.Add(tokenizer.DecodeIncrement(ids[..generated], emitted, out emitted));
            Assert.DoesNotContain('\uFFFD', streamed[^1]);
        }
        Assert.Equal(ids.Length, emitted);
        Assert.Equal(tokenizer.Decode(ids), string.Concat(streamed));
    }

    [Fact]
    public void DecodeIncrement_EmitsInvalidBytesOnceTheyCannotBecomeACharacter()
    {
        var tokenizer = Llama.Value;
        int lead = tokenizer.TokenToId("æ")!.Value; // byte 0xE6, which starts a three-byte character
        int[] ids = [tokenizer.TokenToId("a")!.Value, lead, tokenizer.TokenToId("b")!.Value];

        Assert.Equal("a", tokenizer.DecodeIncrement(ids[..2], 0, out int emitted));
        Assert.Equal(1, emitted);
        Assert.Equal("\uFFFDb", tokenizer.DecodeIncrement(ids, emitted, out emitted));
        Assert.Equal(3, emitted);
        Assert.Equal("", tokenizer.DecodeIncrement([lead, 2], 0, out emitted, skipSpecialTokens: true));
        Assert.Equal(0, emitted);
    }

    [Fact]
    public void SplitWords_FollowsTheGpt2Pattern_IncludingLettersOutsideTheBmp()
    {
        // A run of whitespace before a word leaves its last character to it, so "\n\n123" splits as "\n", "\n", "123".
        Assert.Equal(["Hello", " world", "'s", "  ", " x", "\n", "\n", "123", "!?", " 𝐀𝐁c", " ", " '", "S", "  "],
            ByteLevelAlphabet.SplitWords("Hello world's   x\n\n123!? 𝐀𝐁c  'S  "));
    }

    [Fact]
    public void SplitWords_AgreesWithTheGpt2RegexOnBmpText()
    {
        // On text without surrogate pairs .NET's Regex sees whole characters, so it is a faithful reference there.
        var gpt2 = new Regex(@"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+");
        var random = new Random(7);
        const string alphabet = "aZé日 \t\n\r\u00A0\u3000'srtvemld1٣½.,!—✓\u0085";
        var texts = new[] { "heldout-kjv.txt", "heldout-fortunes.txt" }
            .Select(name => File.ReadAllText(Path.Combine(RepoPaths.Root, "data", name)))
            .Concat(Enumerable.Range(0, 200).Select(_ => new string(Enumerable.Range(0, 40).Select(_ => alphabet[random.Next(alphabet.Length)]).ToArray())));
        foreach (var text in texts)
            Assert.Equal(gpt2.Matches(text).Select(m => m.Value), ByteLevelAlphabet.SplitWords(text));
    }

    [Fact]
    public void Load_AcceptsMergesWrittenAsStrings()
    {
        var asStrings = WithChanges(LlamaTokenizerPath, root =>
        {
            var merges = root["model"]!["merges"]!.AsArray();
            root["model"]!["merges"] = new JsonArray(merges.Select(m => (JsonNode)$"{m![0]} {m[1]}").ToArray());
        });
        try
        {
            const string text = "And it came to pass, when the king heard the programmer's 12 words.";
            Assert.Equal(Llama.Value.Encode(text), ByteLevelBpeTokenizer.Load(asStrings).Encode(text));
        }
        finally { File.Delete(asStrings); }
    }

    [Fact]
    public void Load_WithoutPostProcessor_AddsNoBos_AndPrefixSpaceGoesBeforeEachPiece()
    {
        var changed = WithChanges(LlamaTokenizerPath, root =>
        {
            root["post_processor"] = null;
            root["pre_tokenizer"]!["add_prefix_space"] = true;
        });
        try
        {
            var tokenizer = ByteLevelBpeTokenizer.Load(changed);
            Assert.Null(tokenizer.BosTokenId);
            Assert.Empty(tokenizer.Encode(""));
            Assert.Equal(Llama.Value.Encode(" the</s> king", addSpecialTokens: false), tokenizer.Encode("the</s>king"));
        }
        finally { File.Delete(changed); }
    }

    [Fact]
    public void Load_RejectsMissingFilesAndOtherModelTypes()
    {
        var missing = Path.Combine(Path.GetTempPath(), "no-such-dir", "tokenizer.json");
        Assert.Contains(missing, Assert.Throws<FileNotFoundException>(() => ByteLevelBpeTokenizer.Load(missing)).Message);

        var wordPiece = WithChanges(LlamaTokenizerPath, root => root["model"]!["type"] = "WordPiece");
        try
        {
            var error = Assert.Throws<InvalidDataException>(() => ByteLevelBpeTokenizer.Load(wordPiece));
            Assert.Contains(wordPiece, error.Message);
            Assert.Contains("WordPiece", error.Message);
        }
        finally { File.Delete(wordPiece); }
    }

    /// <summary>A temporary copy of a tokenizer.json with some changes made to it.</summary>
    private static string WithChanges(string tokenizerJsonPath, Action<JsonObject> change)
    {
        var root = JsonNode.Parse(File.ReadAllText(tokenizerJsonPath))!.AsObject();
        change(root);
        var path = Path.Combine(Path.GetTempPath(), $"tokenizer-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, root.ToJsonString());
        return path;
    }
}
