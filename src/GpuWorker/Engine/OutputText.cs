using AlisaCluster.GpuWorker.Tokenization;

namespace AlisaCluster.GpuWorker.Engine;

/// <summary>Turns a growing list of generated token ids into streamable text: never emits half a UTF-8 character,
/// holds back a tail that could still become a stop string, and cuts the output where a stop string appears
/// (the stop string itself is not returned, as in vLLM).</summary>
public sealed class OutputText(ByteLevelBpeTokenizer tokenizer, IReadOnlyList<string> stopStrings)
{
    private readonly int _holdBack = stopStrings.Count == 0 ? 0 : stopStrings.Max(s => s.Length) - 1;
    private int _emitted;

    /// <summary>The text that became final since the last call; <paramref name="stopped"/> tells whether a stop string ended the output.</summary>
    public string Advance(IReadOnlyList<int> generated, bool isLast, out bool stopped)
    {
        var text = tokenizer.Decode(generated, skipSpecialTokens: true);
        stopped = false;
        int end = text.Length;
        int searchFrom = Math.Max(0, _emitted - _holdBack);
        foreach (var stop in stopStrings)
        {
            int at = text.IndexOf(stop, searchFrom, StringComparison.Ordinal);
            if (at >= 0 && at < end) { end = at; stopped = true; }
        }
        if (!stopped && !isLast)
        {
            end = Math.Max(_emitted, end - _holdBack);
            if (end > _emitted && end == text.Length && text[end - 1] == '\uFFFD') end--; // an incomplete character
        }
        if (end <= _emitted) return "";
        var fresh = text[_emitted..end];
        _emitted = end;
        return fresh;
    }
}
