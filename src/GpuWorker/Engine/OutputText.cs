using System.Text;
using AlisaCluster.GpuWorker.Tokenization;

namespace AlisaCluster.GpuWorker.Engine;

/// <summary>Turns a growing list of generated token ids into streamable text: never emits half a UTF-8 character,
/// holds back a tail that could still become a stop string, and cuts the output where a stop string appears
/// (the stop string itself is not returned, as in vLLM). Incremental: each call decodes only the tokens that arrived
/// since the last complete character, so the cost per token does not grow with the output.</summary>
public sealed class OutputText(HfTokenizer tokenizer, IReadOnlyList<string> stopStrings)
{
    private readonly StreamingDetokenizer _detokenizer = new(tokenizer);
    private readonly int _holdBack = stopStrings.Count == 0 ? 0 : stopStrings.Max(s => s.Length) - 1;
    private readonly StringBuilder _text = new();
    private int _emitted;       // characters of _text already returned

    /// <summary>The text that became final since the last call; <paramref name="stopped"/> tells whether a stop string ended the output.</summary>
    public string Advance(IReadOnlyList<int> generated, bool isLast, out bool stopped)
    {
        _text.Append(_detokenizer.Next(generated, isLast));
        stopped = false;
        int end = _text.Length;
        int searchFrom = Math.Max(0, _emitted - _holdBack);
        if (stopStrings.Count > 0)
        {
            var tail = _text.ToString(searchFrom, _text.Length - searchFrom);
            foreach (var stop in stopStrings)
            {
                int at = tail.IndexOf(stop, StringComparison.Ordinal);
                if (at >= 0 && searchFrom + at < end) { end = searchFrom + at; stopped = true; }
            }
        }
        if (!stopped && !isLast) end = Math.Max(_emitted, end - _holdBack);
        if (end <= _emitted) return "";
        var fresh = _text.ToString(_emitted, end - _emitted);
        _emitted = end;
        return fresh;
    }
}
