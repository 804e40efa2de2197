using System.Text.Json;

namespace AlisaCluster.Gateway.OpenAi;

/// <summary>Typed reads of a JSON request body's fields; a field of the wrong type is a 400 naming it. A field that is
/// absent or null reads as null (the API's default).</summary>
public sealed class JsonFields(JsonElement body, string prefix = "")
{
    public JsonElement? Get(string name) =>
        body.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    public bool Has(string name) => Get(name) is not null;

    public string? String(string name) => Get(name) is { } v
        ? v.ValueKind == JsonValueKind.String ? v.GetString() : throw Invalid(name, "must be a string") : null;

    public double? Number(string name) => Get(name) is { } v
        ? v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d) ? d : throw Invalid(name, "must be a number") : null;

    public int? Integer(string name) => Get(name) is { } v
        ? v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i : throw Invalid(name, "must be an integer in the 32-bit range") : null;

    public long? Long(string name) => Get(name) is { } v
        ? v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var l) ? l : throw Invalid(name, "must be a 64-bit integer") : null;

    public bool? Bool(string name) => Get(name) is { } v
        ? v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : throw Invalid(name, "must be true or false") : null;

    public JsonFields? Object(string name) => Get(name) is { } v
        ? v.ValueKind == JsonValueKind.Object ? new JsonFields(v, Path(name) + ".") : throw Invalid(name, "must be an object") : null;

    /// <summary>A string or a list of strings (OpenAI's "stop").</summary>
    public List<string> Strings(string name)
    {
        if (Get(name) is not { } v) return [];
        if (v.ValueKind == JsonValueKind.String) return [v.GetString()!];
        if (v.ValueKind != JsonValueKind.Array || v.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.String))
            throw Invalid(name, "must be a string or a list of strings");
        return v.EnumerateArray().Select(e => e.GetString()!).ToList();
    }

    public List<int> Integers(string name)
    {
        if (Get(name) is not { } v) return [];
        if (v.ValueKind != JsonValueKind.Array || v.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out _)))
            throw Invalid(name, "must be a list of integers");
        return v.EnumerateArray().Select(e => e.GetInt32()).ToList();
    }

    public string Path(string name) => prefix + name;

    public OpenAiException Invalid(string name, string message) => new(OpenAiError.Invalid(Path(name), message));
}
