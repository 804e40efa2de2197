using static AlisaCluster.Gateway.ChatTemplates.TemplateValues;

namespace AlisaCluster.Gateway.ChatTemplates;

/// <summary>Binary operators with Python's meaning: comparisons, "in", arithmetic (int stays int), + on strings and
/// lists, and Jinja's ~ (concatenation of the operands' text).</summary>
public static class TemplateOperators
{
    public static object? Apply(string op, object? left, object? right) => op switch
    {
        "==" => AreEqual(left, right),
        "!=" => !AreEqual(left, right),
        "<" => Compare(left, right) < 0,
        ">" => Compare(left, right) > 0,
        "<=" => Compare(left, right) <= 0,
        ">=" => Compare(left, right) >= 0,
        "in" => Contains(right, left),
        "~" => Str(left) + Str(right),
        "+" => (left, right) switch
        {
            (string a, string b) => a + b,
            (List<object?> a, List<object?> b) => a.Concat(b).ToList(),
            (long a, long b) => a + b,
            _ when IsNumber(left) && IsNumber(right) => ToDouble(left) + ToDouble(right),
            _ => throw Unsupported(op, left, right),
        },
        "-" or "*" or "//" or "%" when left is long a && right is long b => op switch
        {
            "-" => a - b,
            "*" => a * b,
            _ when b == 0 => throw new ChatTemplateException("integer division or modulo by zero"),
            "//" => FloorDiv(a, b),
            _ => a - b * FloorDiv(a, b),
        },
        "*" when left is string s && right is long n => string.Concat(Enumerable.Repeat(s, (int)Math.Max(0, n))),
        "%" when left is string => throw new ChatTemplateException("string formatting with '%' is not supported; use '~' or '+'"),
        "-" or "*" or "/" or "//" or "%" when IsNumber(left) && IsNumber(right) => Arithmetic(op, ToDouble(left), ToDouble(right)),
        _ => throw Unsupported(op, left, right),
    };

    private static double Arithmetic(string op, double a, double b)
    {
        if (op is "/" or "//" or "%" && b == 0) throw new ChatTemplateException("division by zero");
        return op switch
        {
            "-" => a - b,
            "*" => a * b,
            "/" => a / b,
            "//" => Math.Floor(a / b),
            _ => a - b * Math.Floor(a / b),
        };
    }

    private static long FloorDiv(long a, long b) => a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);

    private static ChatTemplateException Unsupported(string op, object? left, object? right) =>
        new($"unsupported operand types for {op}: {TypeName(left)} and {TypeName(right)}");

    /// <summary>The indices Python's items[start:stop:step] picks from a sequence of <paramref name="count"/>.</summary>
    public static IEnumerable<int> SliceIndices(int count, long? start, long? stop, long? step)
    {
        long s = step ?? 1;
        if (s == 0) throw new ChatTemplateException("slice step must not be zero");
        long Clamp(long? value, long fallback, long low, long high)
        {
            if (value is null) return fallback;
            long v = value.Value < 0 ? value.Value + count : value.Value;
            return Math.Clamp(v, low, high);
        }
        if (s > 0)
        {
            for (long i = Clamp(start, 0, 0, count), end = Clamp(stop, count, 0, count); i < end; i += s) yield return (int)i;
        }
        else
        {
            for (long i = Clamp(start, count - 1, -1, count - 1), end = Clamp(stop, -1, -1, count - 1); i > end; i += s) yield return (int)i;
        }
    }
}
