using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace AlisaCluster.GpuWorker.Tokenization;

/// <summary>A Hugging Face tokenizer.json byte-level BPE (GPT-2 style): special tokens split out first, GPT-2 regex
/// pre-tokenization, bytes mapped to printable characters, merges applied by rank, then the post-processor template
/// (e.g. BOS first).</summary>
public sealed partial class ByteLevelBpeTokenizer
{
    private readonly Dictionary<string, int> _vocab;
    private readonly string[] _idToToken;
    private readonly Dictionary<(string, string), int> _mergeRanks;
    private readonly Dictionary<string, int> _specialTokens;
    private readonly Regex? _specialSplit;
    private readonly int[] _prefixIds, _suffixIds;
    private readonly bool _addPrefixSpace;
    private readonly ConcurrentDictionary<string, int[]> _cache = new();

    [GeneratedRegex(@"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+")]
    private static partial Regex PreTokenizer();

    private ByteLevelBpeTokenizer(Dictionary<string, int> vocab, Dictionary<(string, string), int> mergeRanks,
        Dictionary<string, int> specialTokens, int[] prefixIds, int[] suffixIds, bool addPrefixSpace)
    {
        _vocab = vocab;
        _mergeRanks = mergeRanks;
        _specialTokens = specialTokens;
        _prefixIds = prefixIds;
        _suffixIds = suffixIds;
        _addPrefixSpace = addPrefixSpace;
        int size = Math.Max(vocab.Count == 0 ? 0 : vocab.Values.Max() + 1, specialTokens.Count == 0 ? 0 : specialTokens.Values.Max() + 1);
        _idToToken = new string[size];
        foreach (var (token, id) in vocab) _idToToken[id] = token;
        foreach (var (token, id) in specialTokens) _idToToken[id] = token;
        if (specialTokens.Count > 0)
            _specialSplit = new Regex("(" + string.Join("|", specialTokens.Keys.OrderByDescending(k => k.Length).Select(Regex.Escape)) + ")");
        BosTokenId = specialTokens.TryGetValue("<s>", out var bos) ? bos : null;
        EosTokenId = specialTokens.TryGetValue("</s>", out var eos) ? eos : null;
    }

    public int VocabSize => _idToToken.Length;
    public int? BosTokenId { get; }
    public int? EosTokenId { get; }

    public int? TokenToId(string token) => _vocab.TryGetValue(token, out var id) || _specialTokens.TryGetValue(token, out id) ? id : null;

    public string IdToToken(int id) => id >= 0 && id < _idToToken.Length && _idToToken[id] is { } token ? token
        : throw new ArgumentOutOfRangeException(nameof(id), $"token id {id} is outside the vocabulary of {_idToToken.Length}");

    public static ByteLevelBpeTokenizer Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"tokenizer not found: {path}", path);
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var root = doc.RootElement;
        var model = root.GetProperty("model");
        var type = model.TryGetProperty("type", out var t) ? t.GetString() : null;
        if (type != "BPE") throw new InvalidDataException($"{path}: tokenizer model type '{type}' is not supported (only byte-level BPE)");
        var vocab = model.GetProperty("vocab").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32());
        var ranks = new Dictionary<(string, string), int>();
        int rank = 0;
        foreach (var merge in model.GetProperty("merges").EnumerateArray())
        {
            var pair = merge.ValueKind == JsonValueKind.String
                ? merge.GetString()!.Split(' ', 2) : merge.EnumerateArray().Select(e => e.GetString()!).ToArray();
            if (pair.Length != 2) throw new InvalidDataException($"{path}: merge #{rank} is not a pair");
            ranks.TryAdd((pair[0], pair[1]), rank++);
        }
        var special = new Dictionary<string, int>();
        if (root.TryGetProperty("added_tokens", out var added) && added.ValueKind == JsonValueKind.Array)
            foreach (var token in added.EnumerateArray())
                special[token.GetProperty("content").GetString()!] = token.GetProperty("id").GetInt32();
        bool prefixSpace = root.TryGetProperty("pre_tokenizer", out var pre) && pre.ValueKind == JsonValueKind.Object
            && pre.TryGetProperty("add_prefix_space", out var aps) && aps.GetBoolean();
        var (prefix, suffix) = Template(root, special, path);
        return new ByteLevelBpeTokenizer(vocab, ranks, special, prefix, suffix, prefixSpace);
    }

    /// <summary>The special tokens the post-processor's "single" template puts before and after the sequence.</summary>
    private static (int[] Prefix, int[] Suffix) Template(JsonElement root, Dictionary<string, int> special, string path)
    {
        if (!root.TryGetProperty("post_processor", out var post) || post.ValueKind != JsonValueKind.Object) return ([], []);
        if (post.GetProperty("type").GetString() != "TemplateProcessing") return ([], []);
        List<int> prefix = [], suffix = [];
        bool seenSequence = false;
        foreach (var piece in post.GetProperty("single").EnumerateArray())
        {
            if (piece.TryGetProperty("Sequence", out _)) { seenSequence = true; continue; }
            var name = piece.GetProperty("SpecialToken").GetProperty("id").GetString()!;
            if (!special.TryGetValue(name, out var id)) throw new InvalidDataException($"{path}: post-processor names unknown token '{name}'");
            (seenSequence ? suffix : prefix).Add(id);
        }
        return (prefix.ToArray(), suffix.ToArray());
    }

    public IReadOnlyList<int> Encode(string text, bool addSpecialTokens = true)
    {
        var ids = new List<int>();
        if (addSpecialTokens) ids.AddRange(_prefixIds);
        var pieces = _specialSplit is null ? [text] : _specialSplit.Split(text);
        bool first = true;
        foreach (var piece in pieces)
        {
            if (piece.Length == 0) continue;
            if (_specialTokens.TryGetValue(piece, out var special)) { ids.Add(special); continue; }
            var input = _addPrefixSpace && first && !piece.StartsWith(' ') ? " " + piece : piece;
            first = false;
            foreach (Match word in PreTokenizer().Matches(input)) ids.AddRange(EncodeWord(word.Value));
        }
        if (addSpecialTokens) ids.AddRange(_suffixIds);
        return ids;
    }

    private int[] EncodeWord(string word)
    {
        if (_cache.TryGetValue(word, out var cached)) return cached;
        var symbols = ByteLevelAlphabet.Encode(Encoding.UTF8.GetBytes(word)).Select(c => c.ToString()).ToList();
        while (symbols.Count > 1)
        {
            int best = -1, bestRank = int.MaxValue;
            for (int i = 0; i + 1 < symbols.Count; i++)
                if (_mergeRanks.TryGetValue((symbols[i], symbols[i + 1]), out var r) && r < bestRank) { bestRank = r; best = i; }
            if (best < 0) break;
            var (left, right) = (symbols[best], symbols[best + 1]);
            var merged = new List<string>(symbols.Count);
            for (int i = 0; i < symbols.Count; i++)
            {
                if (i + 1 < symbols.Count && symbols[i] == left && symbols[i + 1] == right) { merged.Add(left + right); i++; }
                else merged.Add(symbols[i]);
            }
            symbols = merged;
        }
        var ids = symbols.Select(s => _vocab.TryGetValue(s, out var id) ? id
            : throw new InvalidDataException($"symbol '{s}' is missing from the vocabulary")).ToArray();
        _cache[word] = ids;
        return ids;
    }

    /// <summary>UTF-8 text of the ids; bytes that do not form a complete character decode as U+FFFD.</summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        var text = new StringBuilder();
        var bytes = new List<byte>();
        foreach (var id in ids)
        {
            var token = IdToToken(id);
            if (_specialTokens.ContainsKey(token))
            {
                if (skipSpecialTokens) continue;
                text.Append(Encoding.UTF8.GetString(bytes.ToArray()));
                bytes.Clear();
                text.Append(token);
                continue;
            }
            bytes.AddRange(ByteLevelAlphabet.Decode(token));
        }
        text.Append(Encoding.UTF8.GetString(bytes.ToArray()));
        return text.ToString();
    }
}
