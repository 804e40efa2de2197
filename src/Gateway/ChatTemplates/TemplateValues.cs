using System.Collections;
using System.Globalization;
using System.Text;

namespace AlisaCluster.Gateway.ChatTemplates;

/// <summary>A name or attribute that does not exist: renders as "", is false, iterates as empty (Jinja's Undefined).</summary>
public sealed record Undefined(string Name);

/// <summary>namespace(): the one mutable object, so a for loop can carry state out of its scope.</summary>
public sealed class Namespace : Dictionary<string, object?>;

/// <summary>Python's semantics for the template's values: null (None), bool, long, double, string, lists
/// (<see cref="List{T}"/> of object?) and dicts (<see cref="Dictionary{TKey,TValue}"/> string to object?).</summary>
public static class TemplateValues
{
    public static bool Truthy(object? value) => value switch
    {
        null or Undefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        ICollection c => c.Count > 0,
        _ => true,
    };

    /// <summary>Python's str(): what {{ value }} writes.</summary>
    public static string Str(object? value) => value switch
    {
        string s => s,
        Undefined => "",
        _ => Repr(value),
    };

    public static string Repr(object? value) => value switch
    {
        null => "None",
        Undefined => "",
        bool b => b ? "True" : "False",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => FormatFloat(d),
        string s => "'" + s.Replace("\\", "\\\\").Replace("'", "\\'").Replace("\n", "\\n") + "'",
        IDictionary<string, object?> dict => "{" + string.Join(", ", dict.Select(p => Repr(p.Key) + ": " + Repr(p.Value))) + "}",
        List<object?> list => "[" + string.Join(", ", list.Select(Repr)) + "]",
        _ => value.ToString() ?? "",
    };

    private static string FormatFloat(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsInfinity(d)) return d > 0 ? "inf" : "-inf";
        var text = d.ToString("R", CultureInfo.InvariantCulture);
        return text.Contains('.') || text.Contains('E') ? text : text + ".0";
    }

    public static bool IsNumber(object? value) => value is long or double;

    public static double ToDouble(object? value) => value switch
    {
        long l => l,
        double d => d,
        bool b => b ? 1 : 0,
        _ => throw new ChatTemplateException($"{TypeName(value)} is not a number"),
    };

    public static bool AreEqual(object? a, object? b) => (a, b) switch
    {
        (Undefined, Undefined) => true,
        (Undefined, _) or (_, Undefined) => false,
        (null, null) => true,
        (null, _) or (_, null) => false,
        (long x, long y) => x == y,
        (long or double, long or double) => ToDouble(a) == ToDouble(b),
        (string x, string y) => x == y,
        (bool x, bool y) => x == y,
        (List<object?> x, List<object?> y) => x.Count == y.Count && x.Zip(y).All(p => AreEqual(p.First, p.Second)),
        (IDictionary<string, object?> x, IDictionary<string, object?> y) =>
            x.Count == y.Count && x.All(p => y.TryGetValue(p.Key, out var v) && AreEqual(p.Value, v)),
        _ => false,
    };

    public static int Compare(object? a, object? b) => (a, b) switch
    {
        (long or double, long or double) => ToDouble(a).CompareTo(ToDouble(b)),
        (string x, string y) => string.CompareOrdinal(x, y),
        _ => throw new ChatTemplateException($"cannot order {TypeName(a)} and {TypeName(b)}"),
    };

    public static IEnumerable<object?> Iterate(object? value) => value switch
    {
        Undefined => [],
        List<object?> list => list,
        IDictionary<string, object?> dict => dict.Keys,
        string s => s.Select(c => (object?)c.ToString()),
        _ => throw new ChatTemplateException($"{TypeName(value)} is not iterable"),
    };

    public static List<object?> ToList(object? value) => Iterate(value).ToList();

    public static long Length(object? value) => value switch
    {
        string s => s.Length,
        ICollection c => c.Count,
        Undefined => 0,
        _ => throw new ChatTemplateException($"{TypeName(value)} has no length"),
    };

    public static bool Contains(object? container, object? item) => container switch
    {
        string s => item is string sub ? s.Contains(sub, StringComparison.Ordinal) : throw new ChatTemplateException($"'in <string>' needs a string, not {TypeName(item)}"),
        IDictionary<string, object?> dict => item is string key && dict.ContainsKey(key),
        List<object?> list => list.Any(x => AreEqual(x, item)),
        Undefined => false,
        _ => throw new ChatTemplateException($"{TypeName(container)} does not support 'in'"),
    };

    public static string TypeName(object? value) => value switch
    {
        null => "None",
        Undefined u => $"undefined '{u.Name}'",
        bool => "a bool",
        long => "an int",
        double => "a float",
        string => "a string",
        IDictionary<string, object?> => "a dict",
        List<object?> => "a list",
        _ => value.GetType().Name,
    };

    /// <summary>JSON as Python's json.dumps(value, ensure_ascii=False, indent=indent) writes it (Hugging Face's tojson).</summary>
    public static string ToJson(object? value, int? indent, int depth = 0)
    {
        string Pad(int d) => indent is null ? "" : "\n" + new string(' ', indent.Value * d);
        string separator = indent is null ? ", " : ",";
        return value switch
        {
            null or Undefined => "null",
            bool b => b ? "true" : "false",
            long or double => Repr(value),
            string s => JsonString(s),
            IDictionary<string, object?> dict when dict.Count == 0 => "{}",
            IDictionary<string, object?> dict => "{" + string.Join(separator, dict.Select(p => Pad(depth + 1) + JsonString(p.Key) + ": " + ToJson(p.Value, indent, depth + 1))) + Pad(depth) + "}",
            List<object?> list when list.Count == 0 => "[]",
            List<object?> list => "[" + string.Join(separator, list.Select(x => Pad(depth + 1) + ToJson(x, indent, depth + 1))) + Pad(depth) + "]",
            _ => throw new ChatTemplateException($"{TypeName(value)} cannot be written as JSON"),
        };
    }

    private static string JsonString(string s)
    {
        var json = new StringBuilder("\"");
        foreach (char c in s)
        {
            json.Append(c switch
            {
                '"' => "\\\"", '\\' => "\\\\", '\n' => "\\n", '\r' => "\\r", '\t' => "\\t", '\b' => "\\b", '\f' => "\\f",
                < ' ' => $"\\u{(int)c:x4}",
                _ => c.ToString(),
            });
        }
        return json.Append('"').ToString();
    }
}
