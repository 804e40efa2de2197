using System.Text.Json;

namespace AlisaCluster.Grains.Models;

/// <summary>Reads a checkpoint's tokenizer_config.json for chat: chat_template (a string, or a list of named templates
/// of which "default" is used) and bos_token / eos_token (a string or an added-token object with "content").</summary>
public static class TokenizerConfig
{
    public static ChatTemplateSource ReadChatTemplate(string modelFolder)
    {
        var path = Path.Combine(modelFolder, "tokenizer_config.json");
        if (!File.Exists(path)) return new ChatTemplateSource(null, "", "");
        using var document = JsonDocument.Parse(File.ReadAllText(path));
        var root = document.RootElement;
        return new ChatTemplateSource(Template(root), Token(root, "bos_token"), Token(root, "eos_token"));
    }

    private static string? Template(JsonElement root)
    {
        if (!root.TryGetProperty("chat_template", out var template)) return null;
        if (template.ValueKind == JsonValueKind.String) return template.GetString();
        if (template.ValueKind != JsonValueKind.Array) return null;
        return template.EnumerateArray()
            .Where(t => t.TryGetProperty("name", out var name) && name.GetString() == "default" && t.TryGetProperty("template", out _))
            .Select(t => t.GetProperty("template").GetString()).FirstOrDefault();
    }

    private static string Token(JsonElement root, string name) =>
        !root.TryGetProperty(name, out var token) ? ""
        : token.ValueKind == JsonValueKind.String ? token.GetString()!
        : token.ValueKind == JsonValueKind.Object && token.TryGetProperty("content", out var content) ? content.GetString() ?? "" : "";
}
