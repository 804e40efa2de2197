using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace AlisaCluster.GpuWorker.Tokenization;

/// <summary>A Hugging Face tokenizer.json byte-level BPE tokenizer (GPT-2 / RoBERTa style), encoding as HF does: added tokens
/// are cut out of the raw text first, the rest is split into words by the GPT-2 pattern, each word's UTF-8 bytes become
/// alphabet symbols merged by rank, and the post-processor's template adds special tokens (BOS). Safe to share between threads.</summary>
public sealed class ByteLevelBpeTokenizer
{
    // HF caches BPE results per word the same way: bounded, and only for words short enough to be likely to repeat.
    private const int WordCacheCapacity = 10_000;
    private const int MaxCachedWordLength = 256;

    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<(int Left, int Right), (int Rank, int Merged)> _merges;
    private readonly int[] _byteSymbolIds; // -1 where the vocabulary lacks the byte and has no unk token: HF drops such bytes
    private readonly Dictionary<string, int> _addedTokens = [];
    private readonly Regex? _addedTokenPattern;
    private readonly HashSet<int> _specialIds = [];
    private readonly string?[] _tokens;
    private readonly byte[]?[] _tokenBytes;
    private readonly int[] _templatePrefix, _templateSuffix;
    private readonly bool _addPrefixSpace, _splitWords, _ignoreMerges;
    private readonly ConcurrentDictionary<string, int[]> _wordCache = new();
    private int _cachedWordCount; // kept apart because ConcurrentDictionary.Count takes every lock

    public static ByteLevelBpeTokenizer Load(string tokenizerJsonPath)
    {
        if (!File.Exists(tokenizerJsonPath)) throw new FileNotFoundException($"tokenizer file not found: {tokenizerJsonPath}", tokenizerJsonPath);
        using var stream = File.OpenRead(tokenizerJsonPath);
        using var document = JsonDocument.Parse(stream);
        return new ByteLevelBpeTokenizer(document.RootElement, tokenizerJsonPath);
    }

    private ByteLevelBpeTokenizer(JsonElement root, string path)
    {
        var model = root.GetProperty("model");
        var modelType = model.TryGetProperty("type", out var type) ? type.GetString() : null;
        if (modelType != "BPE") throw new InvalidDataException($"{path}: tokenizer model type '{modelType}' is not supported, only BPE");
        if (root.TryGetProperty("normalizer", out var normalizer) && normalizer.ValueKind != JsonValueKind.Null)
            throw new InvalidDataException($"{path}: a normalizer is not supported");
        if (!root.TryGetProperty("pre_tokenizer", out var preTokenizer) || preTokenizer.ValueKind != JsonValueKind.Object
            || preTokenizer.GetProperty("type").GetString() != "ByteLevel")
            throw new InvalidDataException($"{path}: the pre-tokenizer must be ByteLevel");
        _addPrefixSpace = Flag(preTokenizer, "add_prefix_space", false);
        _splitWords = Flag(preTokenizer, "use_regex", true);
        _ignoreMerges = Flag(model, "ignore_merges", false);

        _vocab = model.GetProperty("vocab").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32());
        _merges = ReadMerges(model.GetProperty("merges"), _vocab, path);
        int? unknownId = model.TryGetProperty("unk_token", out var unk) && unk.ValueKind == JsonValueKind.String
            && _vocab.TryGetValue(unk.GetString()!, out var unkId) ? unkId : null;
        _byteSymbolIds = Enumerable.Range(0, 256)
            .Select(b => _vocab.TryGetValue(ByteLevelAlphabet.Symbol((byte)b).ToString(), out var id) ? id : unknownId ?? -1).ToArray();

        if (root.TryGetProperty("added_tokens", out var added) && added.ValueKind == JsonValueKind.Array)
            foreach (var token in added.EnumerateArray())
            {
                int id = token.GetProperty("id").GetInt32();
                _addedTokens[token.GetProperty("content").GetString()!] = id;
                if (Flag(token, "special", false)) _specialIds.Add(id);
            }
        // Longest first, so that where two added tokens start at one place the longer wins, as in HF.
        if (_addedTokens.Count > 0)
            _addedTokenPattern = new Regex(string.Join('|', _addedTokens.Keys.OrderByDescending(t => t.Length).Select(Regex.Escape)));

        _tokens = new string?[_vocab.Values.Concat(_addedTokens.Values).DefaultIfEmpty(-1).Max() + 1];
        foreach (var (token, id) in _vocab) _tokens[id] = token;
        foreach (var (token, id) in _addedTokens) _tokens[id] = token; // an added token wins over the model's, as in HF
        _tokenBytes = _tokens.Select(token => token is null ? null : ByteLevelAlphabet.TokenBytes(token)).ToArray();

        (_templatePrefix, _templateSuffix) = ReadTemplate(root.TryGetProperty("post_processor", out var post) ? post : default, path);
        BosTokenId = _templatePrefix.Length > 0 ? _templatePrefix[0] : null;
        EosTokenId = _addedTokens.TryGetValue("</s>", out var eos) ? eos : null;
    }

    /// <summary>One past the largest token id (model vocabulary and added tokens).</summary>
    public int VocabSize => _tokens.Length;
    /// <summary>The first token the post-processor puts before a sequence; null without a post-processor template.</summary>
    public int? BosTokenId { get; }
    /// <summary>The id of the added token "&lt;/s&gt;", if there is one.</summary>
    public int? EosTokenId { get; }

    public int? TokenToId(string token) => _addedTokens.TryGetValue(token, out var id) || _vocab.TryGetValue(token, out id) ? id : null;

    public string IdToToken(int id) => id >= 0 && id < _tokens.Length && _tokens[id] is { } token ? token
        : throw new ArgumentOutOfRangeException(nameof(id), id, $"no token has id {id} (vocabulary size {_tokens.Length})");

    public IReadOnlyList<int> Encode(string text, bool addSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>();
        if (addSpecialTokens) ids.AddRange(_templatePrefix);
        int pieceStart = 0;
        for (var added = _addedTokenPattern?.Match(text); added is { Success: true }; added = added.NextMatch())
        {
            EncodePiece(text[pieceStart..added.Index], ids);
            ids.Add(_addedTokens[added.Value]);
            pieceStart = added.Index + added.Length;
        }
        EncodePiece(text[pieceStart..], ids);
        if (addSpecialTokens) ids.AddRange(_templateSuffix);
        return ids;
    }

    /// <summary>Encodes text free of added tokens. As in HF, every such piece gets the prefix space, not only the first.</summary>
    private void EncodePiece(string piece, List<int> ids)
    {
        if (piece.Length == 0) return;
        if (_addPrefixSpace && piece[0] != ' ') piece = " " + piece;
        foreach (var word in _splitWords ? ByteLevelAlphabet.SplitWords(piece) : [piece]) ids.AddRange(EncodeWord(word));
    }

    private int[] EncodeWord(string word)
    {
        if (_wordCache.TryGetValue(word, out var cached)) return cached;
        var bytes = Encoding.UTF8.GetBytes(word);
        int[] ids = _ignoreMerges && _vocab.TryGetValue(ByteLevelAlphabet.ToSymbols(bytes), out var whole) ? [whole] : MergeSymbols(bytes);
        if (word.Length <= MaxCachedWordLength && _cachedWordCount < WordCacheCapacity && _wordCache.TryAdd(word, ids))
            Interlocked.Increment(ref _cachedWordCount);
        return ids;
    }

    /// <summary>Merges a word's byte symbols, the lowest-ranked pair first and the leftmost among equals, as HF does. A heap of
    /// candidate pairs over a linked list of symbols keeps a long word (a run of punctuation, say) at O(n log n).</summary>
    private int[] MergeSymbols(byte[] bytes)
    {
        var symbols = bytes.Select(b => _byteSymbolIds[b]).Where(id => id >= 0).ToArray();
        var next = new int[symbols.Length];
        var previous = new int[symbols.Length];
        for (int i = 0; i < symbols.Length; i++) (previous[i], next[i]) = (i - 1, i + 1 < symbols.Length ? i + 1 : -1);
        var candidates = new PriorityQueue<int, (int Rank, int Position)>();
        void Offer(int left) // queues the pair starting at symbol left, if it merges
        {
            if (left >= 0 && next[left] >= 0 && _merges.TryGetValue((symbols[left], symbols[next[left]]), out var merge))
                candidates.Enqueue(left, (merge.Rank, left));
        }
        for (int i = 0; i + 1 < symbols.Length; i++) Offer(i);
        while (candidates.TryDequeue(out int left, out var queued))
        {
            // An entry is stale once either symbol has merged with another neighbour: the pair there must still have its rank.
            int right = next[left];
            if (right < 0 || !_merges.TryGetValue((symbols[left], symbols[right]), out var merge) || merge.Rank != queued.Rank) continue;
            symbols[left] = merge.Merged;
            symbols[right] = -1;
            next[left] = next[right];
            if (next[right] >= 0) previous[next[right]] = left;
            Offer(previous[left]);
            Offer(left);
        }
        return symbols.Where(id => id >= 0).ToArray();
    }

    /// <summary>The UTF-8 text of the tokens' bytes taken together, so a character may span tokens; bytes that form no
    /// character decode as U+FFFD. Special tokens appear as their content unless skipped; as in HF, ids without a token are skipped.</summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        var bytes = new List<byte>();
        foreach (var id in ids) AppendBytes(id, skipSpecialTokens, bytes);
        return Encoding.UTF8.GetString(CollectionsMarshal.AsSpan(bytes));
    }

    /// <summary>For streaming: the text of the tokens after the first <paramref name="alreadyEmittedTokenCount"/>, up to the
    /// last token boundary that does not fall inside a multi-byte character. <paramref name="newEmittedCount"/> is that
    /// boundary, the next call's <paramref name="alreadyEmittedTokenCount"/>; tokens past it are held back until the bytes
    /// that complete their character arrive. Start at 0 (or any character boundary); the increments then add up to
    /// <see cref="Decode"/> of the same ids, except for a stream that ends inside a character, whose held-back tail
    /// (U+FFFD when decoded) is never emitted.</summary>
    public string DecodeIncrement(IReadOnlyList<int> allIds, int alreadyEmittedTokenCount, out int newEmittedCount, bool skipSpecialTokens = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(alreadyEmittedTokenCount);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(alreadyEmittedTokenCount, allIds.Count);
        var bytes = new List<byte>();
        (newEmittedCount, int completeByteCount) = (alreadyEmittedTokenCount, 0);
        for (int i = alreadyEmittedTokenCount; i < allIds.Count; i++)
        {
            AppendBytes(allIds[i], skipSpecialTokens, bytes);
            if (!ByteLevelAlphabet.EndsInsideCharacter(CollectionsMarshal.AsSpan(bytes))) (newEmittedCount, completeByteCount) = (i + 1, bytes.Count);
        }
        return Encoding.UTF8.GetString(CollectionsMarshal.AsSpan(bytes)[..completeByteCount]);
    }

    private void AppendBytes(int id, bool skipSpecialTokens, List<byte> bytes)
    {
        if (id < 0 || id >= _tokenBytes.Length || _tokenBytes[id] is not { } tokenBytes) return;
        if (!(skipSpecialTokens && _specialIds.Contains(id))) bytes.AddRange(tokenBytes);
    }

    private static bool Flag(JsonElement owner, string name, bool fallback) =>
        owner.TryGetProperty(name, out var value) && value.ValueKind is JsonValueKind.True or JsonValueKind.False ? value.GetBoolean() : fallback;

    private static Dictionary<(int Left, int Right), (int Rank, int Merged)> ReadMerges(JsonElement merges, Dictionary<string, int> vocab, string path)
    {
        var ranks = new Dictionary<(int Left, int Right), (int Rank, int Merged)>();
        int rank = 0;
        int Id(string token) => vocab.TryGetValue(token, out var id) ? id
            : throw new InvalidDataException($"{path}: merge #{rank} needs '{token}', which is not in the vocabulary");
        foreach (var merge in merges.EnumerateArray())
        {
            // Older files write a merge as "left right", newer ones as ["left", "right"] (which lets tokens hold spaces).
            var pair = merge.ValueKind == JsonValueKind.String ? merge.GetString()!.Split(' ') : merge.EnumerateArray().Select(p => p.GetString()!).ToArray();
            if (pair.Length != 2) throw new InvalidDataException($"{path}: merge #{rank} is not a pair of tokens");
            ranks[(Id(pair[0]), Id(pair[1]))] = (rank, Id(pair[0] + pair[1]));
            rank++;
        }
        return ranks;
    }

    /// <summary>The ids the post-processor puts before and after a single sequence.</summary>
    private static (int[] Prefix, int[] Suffix) ReadTemplate(JsonElement processor, string path)
    {
        if (processor.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null) return ([], []);
        switch (processor.GetProperty("type").GetString())
        {
            case "ByteLevel": return ([], []); // it only adjusts offsets
            case "RobertaProcessing": return ([processor.GetProperty("cls")[1].GetInt32()], [processor.GetProperty("sep")[1].GetInt32()]);
            case "TemplateProcessing":
                var specialTokens = processor.GetProperty("special_tokens");
                List<int> prefix = [], suffix = [];
                var current = prefix;
                foreach (var piece in processor.GetProperty("single").EnumerateArray())
                {
                    if (!piece.TryGetProperty("SpecialToken", out var special)) { current = suffix; continue; } // the sequence
                    var name = special.GetProperty("id").GetString()!;
                    if (!specialTokens.TryGetProperty(name, out var definition))
                        throw new InvalidDataException($"{path}: the post-processor template uses '{name}' but does not define it");
                    current.AddRange(definition.GetProperty("ids").EnumerateArray().Select(id => id.GetInt32()));
                }
                return (prefix.ToArray(), suffix.ToArray());
            case var other: throw new InvalidDataException($"{path}: post-processor '{other}' is not supported");
        }
    }
}
