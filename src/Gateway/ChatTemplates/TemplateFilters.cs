using System.Globalization;
using static AlisaCluster.Gateway.ChatTemplates.TemplateValues;

namespace AlisaCluster.Gateway.ChatTemplates;

/// <summary>The filters, tests and methods the common chat templates use (Llama-3, Qwen2.5 / ChatML, Mistral, Phi-3).</summary>
public static class TemplateFilters
{
    public static readonly string[] Filters = ["trim", "length", "count", "default", "d", "upper", "lower", "capitalize", "tojson", "string", "int", "list", "first", "last", "join", "replace"];
    public static readonly string[] Tests = ["defined", "undefined", "none", "string", "number", "integer", "mapping", "iterable", "sequence", "boolean", "true", "false", "even", "odd"];

    public static bool IsFilter(string name) => Filters.Contains(name);

    public static bool IsTest(string name) => Tests.Contains(name);

    public static object? Filter(string name, object? value, List<object?> args, Dictionary<string, object?> kwargs)
    {
        object? Arg(int i, string key, object? fallback) => i < args.Count ? args[i] : kwargs.GetValueOrDefault(key, fallback);
        return name switch
        {
            "trim" => Text(value, name).Trim(),
            "length" or "count" => Length(value),
            "default" or "d" => value is Undefined || (Truthy(Arg(1, "boolean", false)) && !Truthy(value)) ? Arg(0, "default_value", "") : value,
            "upper" => Text(value, name).ToUpperInvariant(),
            "lower" => Text(value, name).ToLowerInvariant(),
            "capitalize" => Text(value, name) is { Length: > 0 } s ? char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant() : "",
            "tojson" => ToJson(value, Arg(0, "indent", null) is long indent ? (int)indent : null),
            "string" => Str(value),
            "int" => value switch
            {
                long l => l,
                double d => (long)Math.Truncate(d),
                string s when long.TryParse(s.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed) => parsed,
                _ => Arg(0, "default", 0L),
            },
            "list" => ToList(value),
            "first" => ToList(value) is { Count: > 0 } items ? items[0] : new Undefined("first"),
            "last" => ToList(value) is { Count: > 0 } items ? items[^1] : new Undefined("last"),
            "join" => string.Join(Arg(0, "d", "") is string separator ? separator : "", Iterate(value).Select(Str)),
            "replace" => Text(value, name).Replace(Text(Arg(0, "old", ""), name), Text(Arg(1, "new", ""), name)),
            _ => throw new ChatTemplateException($"the '{name}' filter is not supported"),
        };
    }

    public static bool Test(string name, object? value) => name switch
    {
        "defined" => value is not Undefined,
        "undefined" => value is Undefined,
        "none" => value is null,
        "string" => value is string,
        "number" => value is long or double,
        "integer" => value is long,
        "mapping" => value is IDictionary<string, object?>,
        "iterable" => value is string or List<object?> or IDictionary<string, object?>,
        "sequence" => value is string or List<object?> or IDictionary<string, object?>,
        "boolean" => value is bool,
        "true" => value is true,
        "false" => value is false,
        "even" => value is long l && l % 2 == 0,
        "odd" => value is long l && l % 2 != 0,
        _ => throw new ChatTemplateException($"the '{name}' test is not supported"),
    };

    /// <summary>Python's string and dict methods that templates call (message.content.strip(), tool.items(), ...).</summary>
    public static object? Method(object? target, string name, List<object?> args)
    {
        string? Chars(int i) => i < args.Count ? args[i] as string : null;
        return (target, name) switch
        {
            (string s, "strip") => Chars(0) is { } c ? s.Trim(c.ToCharArray()) : s.Trim(),
            (string s, "lstrip") => Chars(0) is { } c ? s.TrimStart(c.ToCharArray()) : s.TrimStart(),
            (string s, "rstrip") => Chars(0) is { } c ? s.TrimEnd(c.ToCharArray()) : s.TrimEnd(),
            (string s, "upper") => s.ToUpperInvariant(),
            (string s, "lower") => s.ToLowerInvariant(),
            (string s, "startswith") => s.StartsWith(Text(args.FirstOrDefault(), name), StringComparison.Ordinal),
            (string s, "endswith") => s.EndsWith(Text(args.FirstOrDefault(), name), StringComparison.Ordinal),
            (string s, "replace") => s.Replace(Text(args.ElementAtOrDefault(0), name), Text(args.ElementAtOrDefault(1), name)),
            (string s, "split") => (Chars(0) is { } separator ? s.Split(separator) : s.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
                .Select(x => (object?)x).ToList(),
            (IDictionary<string, object?> d, "items") => d.Select(p => (object?)new List<object?> { p.Key, p.Value }).ToList(),
            (IDictionary<string, object?> d, "keys") => d.Keys.Select(k => (object?)k).ToList(),
            (IDictionary<string, object?> d, "values") => d.Values.ToList(),
            (IDictionary<string, object?> d, "get") => d.TryGetValue(Text(args.FirstOrDefault(), name), out var v) ? v : args.ElementAtOrDefault(1),
            _ => throw new ChatTemplateException($"{TypeName(target)} has no supported method '{name}'"),
        };
    }

    private static string Text(object? value, string operation) =>
        value as string ?? throw new ChatTemplateException($"'{operation}' needs a string, got {TypeName(value)}");
}
