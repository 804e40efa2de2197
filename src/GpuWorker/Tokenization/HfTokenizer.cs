using System.Text.Json.Nodes;

namespace AlisaCluster.GpuWorker.Tokenization;

/// <summary>Any Hugging Face tokenizer.json (BPE, Unigram, WordPiece; normalizers, pre-tokenizers, added and special
/// tokens, byte fallback, post-processor templates), run by Hugging Face's own Rust tokenizers library through
/// Tokenizers.DotNet, so its ids are the ones transformers gets. Safe to share between threads.</summary>
public sealed class HfTokenizer : IDisposable
{
    private readonly Tokenizers.DotNet.Tokenizer _native;
    private readonly int _templatePrefixLength, _templateSuffixLength;

    private HfTokenizer(Tokenizers.DotNet.Tokenizer native, int templatePrefixLength, int templateSuffixLength)
    {
        _native = native; _templatePrefixLength = templatePrefixLength; _templateSuffixLength = templateSuffixLength;
    }

    public static HfTokenizer Load(string tokenizerJsonPath)
    {
        if (!File.Exists(tokenizerJsonPath)) throw new FileNotFoundException($"tokenizer file not found: {tokenizerJsonPath}", tokenizerJsonPath);
        JsonObject json;
        try { json = JsonNode.Parse(File.ReadAllText(tokenizerJsonPath))?.AsObject() ?? throw new InvalidDataException("empty"); }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or InvalidDataException)
        { throw new InvalidDataException($"{tokenizerJsonPath}: not a JSON object ({e.Message})", e); }
        var (prefix, suffix) = TemplateLengths(json["post_processor"], tokenizerJsonPath);

        // transformers switches off a tokenizer.json's truncation and padding unless a call asks for them; the library
        // has no such switch, so it gets a copy without them.
        bool needsCopy = json["truncation"] is not null || json["padding"] is not null;
        var loadPath = tokenizerJsonPath;
        if (needsCopy)
        {
            json["truncation"] = null;
            json["padding"] = null;
            loadPath = Path.Combine(Path.GetTempPath(), $"alisa-tokenizer-{Guid.NewGuid():N}.json");
            File.WriteAllText(loadPath, json.ToJsonString());
        }
        try { return new HfTokenizer(new Tokenizers.DotNet.Tokenizer(loadPath), prefix, suffix); }
        catch (Tokenizers.DotNet.TokenizerException e)
        { throw new InvalidDataException($"{tokenizerJsonPath}: the tokenizers library cannot load it ({e.Message})", e); }
        finally { if (needsCopy) File.Delete(loadPath); }
    }

    /// <summary>The ids of <paramref name="text"/>; with <paramref name="addSpecialTokens"/>, the post-processor's
    /// template adds its special tokens (BOS for Llama) as in transformers. Special-token literals in the text are
    /// recognised either way.</summary>
    public IReadOnlyList<int> Encode(string text, bool addSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        int lone = LoneSurrogateIndex(text);
        if (lone >= 0)
            throw new ArgumentException($"text holds a lone UTF-16 surrogate (U+{(int)text[lone]:X4}) at index {lone}: it is not valid Unicode", nameof(text));
        uint[] ids;
        try { ids = _native.Encode(text); }
        catch (Tokenizers.DotNet.TokenizerException e) { throw new ArgumentException($"the tokenizer cannot encode the text: {e.Message}", nameof(text), e); }
        int start = addSpecialTokens ? 0 : _templatePrefixLength, end = ids.Length - (addSpecialTokens ? 0 : _templateSuffixLength);
        var result = new int[end - start];
        for (int i = start; i < end; i++) result[i - start] = checked((int)ids[i]);
        return result;
    }

    /// <summary>The text of <paramref name="ids"/> as transformers' decode(skip_special_tokens=True) gives it: special
    /// tokens and unknown ids left out, the decoder's cleanup applied, bytes that form no character as U+FFFD.</summary>
    public string Decode(IEnumerable<int> ids)
    {
        var unsigned = ids.Where(id => id >= 0).Select(id => (uint)id).ToArray();
        return unsigned.Length == 0 ? "" : _native.Decode(unsigned);
    }

    public void Dispose() => _native.Dispose();

    private static int LoneSurrogateIndex(string text)
    {
        for (int i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) i++;
            else if (char.IsSurrogate(text[i])) return i;
        }
        return -1;
    }

    /// <summary>How many ids the post-processor puts before and after a single sequence (to strip them again when
    /// the caller wants no special tokens: the library always adds them).</summary>
    private static (int Prefix, int Suffix) TemplateLengths(JsonNode? processor, string path)
    {
        if (processor is not JsonObject post) return (0, 0);
        switch ((string?)post["type"])
        {
            case "ByteLevel": return (0, 0); // it only adjusts offsets
            case "RobertaProcessing" or "BertProcessing": return (1, 1);
            case "Sequence":
                int prefix = 0, suffix = 0;
                foreach (var inner in post["processors"]?.AsArray() ?? [])
                {
                    var (p, s) = TemplateLengths(inner, path);
                    (prefix, suffix) = (prefix + p, suffix + s);
                }
                return (prefix, suffix);
            case "TemplateProcessing":
                int before = 0, after = 0;
                bool seenSequence = false;
                foreach (var piece in post["single"]?.AsArray() ?? [])
                {
                    if (piece?["Sequence"] is not null) { seenSequence = true; continue; }
                    var name = (string?)piece?["SpecialToken"]?["id"];
                    var ids = post["special_tokens"]?[name ?? ""]?["ids"]?.AsArray()
                        ?? throw new InvalidDataException($"{path}: the post-processor template uses '{name}' but does not define it");
                    if (seenSequence) after += ids.Count; else before += ids.Count;
                }
                return (before, after);
            case var other: throw new InvalidDataException($"{path}: post-processor '{other}' is not supported");
        }
    }
}
