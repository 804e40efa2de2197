namespace AlisaCluster.GpuWorker.Tokenization;

/// <summary>Decodes a growing list of token ids into text pieces that add up to the decode of the whole list, never
/// emitting half a character. A token's text depends on its neighbours (byte-level tokens split UTF-8 characters;
/// Metaspace decoders drop the space of the first token), so each step decodes a short window that starts a few
/// tokens back and returns what it adds beyond the same window without the new tokens; while that ends in U+FFFD
/// (an incomplete character) the new tokens are held back until the bytes that complete it arrive. The method of
/// transformers' TextStreamer and of vLLM; the cost per token does not grow with the output.</summary>
public sealed class StreamingDetokenizer(HfTokenizer tokenizer)
{
    private int _prefixStart; // first token of the context window
    private int _readEnd;     // tokens whose text has been returned

    /// <summary>The text that the ids past the last returned ones add. <paramref name="final"/> flushes a held-back
    /// incomplete character (it decodes as U+FFFD, as a whole decode shows it).</summary>
    public string Next(IReadOnlyList<int> allIds, bool final)
    {
        if (allIds.Count == _readEnd) return "";
        var known = tokenizer.Decode(Slice(allIds, _prefixStart, _readEnd));
        var extended = tokenizer.Decode(Slice(allIds, _prefixStart, allIds.Count));
        if (!final && (extended.Length <= known.Length || extended.EndsWith('\uFFFD'))) return "";
        var fresh = extended.Length > known.Length ? extended[known.Length..] : "";
        (_prefixStart, _readEnd) = (_readEnd, allIds.Count);
        return fresh;
    }

    private static IEnumerable<int> Slice(IReadOnlyList<int> ids, int start, int end)
    {
        for (int i = start; i < end; i++) yield return ids[i];
    }
}
