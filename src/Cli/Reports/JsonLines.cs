namespace AlisaCluster.Cli.Reports;

/// <summary>The non-empty lines of the results files a report command merges (--in a.jsonl,b.jsonl), in order.</summary>
public static class JsonLines
{
    public static IEnumerable<(string File, string Line)> Read(IReadOnlyList<string> inputs)
    {
        if (inputs.Count == 0) throw new ArgumentException("--in FILE.jsonl[,FILE.jsonl...] is required");
        foreach (var input in inputs)
        {
            if (!File.Exists(input)) throw new FileNotFoundException($"results file not found: {input}", input);
            foreach (var line in File.ReadLines(input).Where(l => l.Trim().Length > 0)) yield return (input, line);
        }
    }
}
