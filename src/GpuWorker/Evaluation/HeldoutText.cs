using AlisaCluster.GpuWorker.Tokenization;

namespace AlisaCluster.GpuWorker.Evaluation;

/// <summary>Turns a text file into evaluation windows, following DESIGN.md section 3: split on "\n\n", drop pieces that
/// are empty or whitespace only (the rest is not trimmed), encode each piece (BOS prepended), append EOS, concatenate,
/// cut into non-overlapping windows of W tokens, drop the remainder.</summary>
public static class HeldoutText
{
    public static List<int[]> Windows(string path, HfTokenizer tokenizer, int eosTokenId, int windowLength)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"text file not found: {path}", path);
        if (windowLength < 2) throw new ArgumentException($"window length must be at least 2, got {windowLength}", nameof(windowLength));
        var tokens = new List<int>();
        foreach (var piece in File.ReadAllText(path).Split("\n\n"))
        {
            if (string.IsNullOrWhiteSpace(piece)) continue;
            tokens.AddRange(tokenizer.Encode(piece));
            tokens.Add(eosTokenId);
        }
        var windows = new List<int[]>();
        for (int start = 0; start + windowLength <= tokens.Count; start += windowLength)
            windows.Add(tokens.GetRange(start, windowLength).ToArray());
        if (windows.Count == 0) throw new InvalidDataException($"{path}: {tokens.Count} tokens, fewer than one window of {windowLength}");
        return windows;
    }
}
