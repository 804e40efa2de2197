using System.Globalization;
using System.Text;

namespace AlisaCluster.Cli.Reports;

/// <summary>A small dependency-free line chart written as SVG: one polyline with markers per series, axes with ticks.</summary>
public sealed class SvgLineChart(string title, string xLabel, string yLabel)
{
    private readonly List<(string Name, List<(double X, double Y)> Points)> _series = new();
    private static readonly string[] Palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

    public SvgLineChart Add(string name, IEnumerable<(double X, double Y)> points)
    {
        _series.Add((name, points.OrderBy(p => p.X).ToList()));
        return this;
    }

    public bool IsEmpty => _series.All(s => s.Points.Count == 0);

    public string Render(int width = 760, int height = 440)
    {
        if (IsEmpty) throw new InvalidOperationException($"chart '{title}' has no points");
        const int left = 70, right = 190, top = 40, bottom = 55;
        var all = _series.SelectMany(s => s.Points).ToList();
        double xMin = all.Min(p => p.X), xMax = all.Max(p => p.X), yMin = all.Min(p => p.Y), yMax = all.Max(p => p.Y);
        if (xMax == xMin) xMax = xMin + 1;
        double pad = (yMax - yMin) * 0.05 + 1e-9;
        yMin -= pad; yMax += pad;
        double plotW = width - left - right, plotH = height - top - bottom;
        double X(double x) => left + (x - xMin) / (xMax - xMin) * plotW;
        double Y(double y) => top + (1 - (y - yMin) / (yMax - yMin)) * plotH;
        static string F(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);

        var svg = new StringBuilder();
        svg.AppendLine($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">");
        svg.AppendLine($"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>");
        svg.AppendLine($"<text x=\"{width / 2}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{Escape(title)}</text>");
        svg.AppendLine($"<line x1=\"{left}\" y1=\"{top + plotH}\" x2=\"{left + plotW}\" y2=\"{top + plotH}\" stroke=\"black\"/>");
        svg.AppendLine($"<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{top + plotH}\" stroke=\"black\"/>");
        foreach (var x in all.Select(p => p.X).Distinct())
            svg.AppendLine($"<text x=\"{F(X(x))}\" y=\"{top + plotH + 16}\" text-anchor=\"middle\">{F(x)}</text>");
        for (int i = 0; i <= 5; i++)
        {
            double y = yMin + (yMax - yMin) * i / 5;
            svg.AppendLine($"<line x1=\"{left}\" y1=\"{F(Y(y))}\" x2=\"{left + plotW}\" y2=\"{F(Y(y))}\" stroke=\"#ddd\"/>");
            svg.AppendLine($"<text x=\"{left - 6}\" y=\"{F(Y(y) + 4)}\" text-anchor=\"end\">{F(y)}</text>");
        }
        svg.AppendLine($"<text x=\"{left + plotW / 2}\" y=\"{height - 12}\" text-anchor=\"middle\">{Escape(xLabel)}</text>");
        svg.AppendLine($"<text transform=\"translate(16 {top + plotH / 2}) rotate(-90)\" text-anchor=\"middle\">{Escape(yLabel)}</text>");
        for (int s = 0; s < _series.Count; s++)
        {
            var (name, points) = _series[s];
            var color = Palette[s % Palette.Length];
            svg.AppendLine($"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{string.Join(" ", points.Select(p => $"{F(X(p.X))},{F(Y(p.Y))}"))}\"/>");
            foreach (var p in points) svg.AppendLine($"<circle cx=\"{F(X(p.X))}\" cy=\"{F(Y(p.Y))}\" r=\"3\" fill=\"{color}\"/>");
            int ly = top + 10 + s * 18;
            svg.AppendLine($"<line x1=\"{width - right + 15}\" y1=\"{ly}\" x2=\"{width - right + 35}\" y2=\"{ly}\" stroke=\"{color}\" stroke-width=\"2\"/>");
            svg.AppendLine($"<text x=\"{width - right + 40}\" y=\"{ly + 4}\">{Escape(name)}</text>");
        }
        svg.AppendLine("</svg>");
        return svg.ToString();
    }

    private static string Escape(string text) => text.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");
}
