using System.Globalization;

namespace AlisaCluster.Cli;

/// <summary>"--name value" and "--flag" options; every option read is checked off, and an unknown one is an error.</summary>
public sealed class CommandLine
{
    private readonly Dictionary<string, string?> _options;
    private readonly HashSet<string> _read = new();

    private CommandLine(Dictionary<string, string?> options) => _options = options;

    public static CommandLine Parse(string[] args)
    {
        var options = new Dictionary<string, string?>();
        for (int i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--")) throw new ArgumentException($"unexpected argument '{args[i]}' (options look like --name value)");
            var name = args[i][2..];
            string? value = i + 1 < args.Length && !args[i + 1].StartsWith("--") ? args[++i] : null;
            options[name] = value;
        }
        return new CommandLine(options);
    }

    public string? String(string name)
    {
        _read.Add(name);
        return _options.TryGetValue(name, out var value) ? value ?? throw new ArgumentException($"--{name} needs a value") : null;
    }

    public string String(string name, string fallback) => String(name) ?? fallback;

    public bool Flag(string name)
    {
        _read.Add(name);
        return _options.ContainsKey(name);
    }

    public int Int(string name, int fallback) => Parse(name, fallback, s => int.Parse(s, CultureInfo.InvariantCulture));

    public double Double(string name, double fallback) => Parse(name, fallback, s => double.Parse(s, CultureInfo.InvariantCulture));

    public long? Long(string name) => String(name) is { } s ? Parse(name, 0L, _ => long.Parse(s, CultureInfo.InvariantCulture)) : null;

    public IReadOnlyList<int> Ints(string name, string fallback) =>
        String(name, fallback).Split(',', StringSplitOptions.RemoveEmptyEntries).Select(s => Parse(name, 0, _ => int.Parse(s, CultureInfo.InvariantCulture))).ToList();

    public IReadOnlyList<string> Strings(string name, string fallback) =>
        String(name, fallback).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private T Parse<T>(string name, T fallback, Func<string, T> parse)
    {
        var text = String(name);
        if (text is null) return fallback;
        try { return parse(text); }
        catch (Exception e) when (e is FormatException or OverflowException) { throw new ArgumentException($"--{name}: '{text}' is not a valid {typeof(T).Name}"); }
    }

    /// <summary>The options that are .NET configuration keys ("--Section:Key value"), as command-line configuration
    /// arguments for a host builder.</summary>
    public string[] ConfigurationArgs()
    {
        var keys = _options.Keys.Where(k => k.Contains(':')).ToList();
        _read.UnionWith(keys);
        return keys.SelectMany(k => new[] { $"--{k}", String(k)! }).ToArray();
    }

    /// <summary>Call after reading all options: a typo must not be silently ignored.</summary>
    public void RejectUnknown()
    {
        var unknown = _options.Keys.Except(_read).ToList();
        if (unknown.Count > 0) throw new ArgumentException($"unknown option(s): {string.Join(", ", unknown.Select(u => "--" + u))}");
    }
}
