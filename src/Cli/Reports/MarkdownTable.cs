using System.Text;

namespace AlisaCluster.Cli.Reports;

/// <summary>A GitHub-flavoured Markdown table.</summary>
public sealed class MarkdownTable(params string[] headers)
{
    private readonly List<string[]> _rows = new();

    public MarkdownTable Add(params string[] cells)
    {
        _rows.Add(cells);
        return this;
    }

    public override string ToString()
    {
        var text = new StringBuilder();
        text.AppendLine("| " + string.Join(" | ", headers) + " |");
        text.AppendLine("|" + string.Concat(headers.Select(_ => "---|")));
        foreach (var row in _rows) text.AppendLine("| " + string.Join(" | ", row) + " |");
        return text.ToString();
    }
}
