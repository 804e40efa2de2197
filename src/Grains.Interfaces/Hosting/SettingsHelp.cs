using System.Globalization;
using System.Reflection;

namespace AlisaCluster.Grains.Hosting;

/// <summary>One configuration section a program reads: its name, an instance holding the defaults, and the keys to list
/// (none = all).</summary>
public sealed record SettingsSection(string Name, object Defaults, params string[] Only);

/// <summary>--help for the silo and gateway programs: every key of the option classes they bind, with its default, read
/// from the classes themselves so that the list cannot drift from what the programs accept.</summary>
public static class SettingsHelp
{
    public static bool Asked(IEnumerable<string> args) => args.Any(a => a is "--help" or "-h");

    /// <summary>The program's description, how settings are given, and one line per key.</summary>
    public static string Describe(string program, params SettingsSection[] sections)
    {
        var lines = new List<string>
        {
            program,
            "Settings, as command-line options (--Section:Key value), environment variables (Section__Key) or appsettings.json",
            "beside the program; the defaults:",
        };
        foreach (var section in sections)
            foreach (var property in Properties(section.Defaults))
                if (section.Only.Length == 0 || section.Only.Contains(property.Name))
                    Add(lines, $"{section.Name}:{property.Name}", property.PropertyType, property.GetValue(section.Defaults));
        return string.Join('\n', lines);
    }

    private static IEnumerable<PropertyInfo> Properties(object options) =>
        options.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite);

    private static void Add(List<string> lines, string key, Type type, object? value)
    {
        if (type.IsArray)
        {
            var element = type.GetElementType()!;
            if (IsScalar(element)) lines.Add($"  --{key}:0 VALUE  (a list: :0, :1, ...)");
            else foreach (var property in Properties(Activator.CreateInstance(element)!))
                    Add(lines, $"{key}:N:{property.Name}", property.PropertyType, null);
        }
        else if (!IsScalar(type)) foreach (var property in Properties(value!)) Add(lines, $"{key}:{property.Name}", property.PropertyType, property.GetValue(value));
        else lines.Add($"  --{key} {Format(value)}".TrimEnd());
    }

    private static bool IsScalar(Type type) => type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(TimeSpan) || type == typeof(decimal);

    private static string Format(object? value) => value switch
    {
        null => "",
        "" => "\"\"",
        bool b => b ? "true" : "false",
        TimeSpan t => t.ToString("c", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}
