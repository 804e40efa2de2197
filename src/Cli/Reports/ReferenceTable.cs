using System.Text.Json;

namespace AlisaCluster.Cli.Reports;

/// <summary>sparse-reference.jsonl: an independent implementation's perplexity per model, text, policy and sparsity.</summary>
public static class ReferenceTable
{
    public sealed record Entry(string Model, string Text, string Policy, double Sparsity, double Ppl, int Windows);

    public static List<Entry> Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"reference file not found: {path}", path);
        return File.ReadLines(path).Where(l => l.Trim().Length > 0).Select(line =>
        {
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            return new Entry(r.GetProperty("model").GetString()!, r.GetProperty("text").GetString()!, r.GetProperty("policy").GetString()!,
                r.GetProperty("sparsity").GetDouble(), r.GetProperty("ppl").GetDouble(), r.GetProperty("windows").GetInt32());
        }).ToList();
    }
}
