using System.Text;
using System.Text.Json;

namespace AlisaCluster.Gateway.OpenAi;

/// <summary>Reads a chat request's "messages": system, developer (as system), user and assistant messages whose
/// content is a string or a list of text parts.</summary>
public static class ChatMessages
{
    private static readonly string[] Roles = ["system", "developer", "user", "assistant"];

    public static List<ChatMessage> Read(JsonFields fields)
    {
        var messages = fields.Get("messages") ?? throw fields.Invalid("messages", "is required");
        if (messages.ValueKind != JsonValueKind.Array || messages.GetArrayLength() == 0) throw fields.Invalid("messages", "must be a non-empty list");
        return messages.EnumerateArray().Select((message, i) => ReadOne(message, $"messages[{i}]")).ToList();
    }

    private static ChatMessage ReadOne(JsonElement message, string path)
    {
        if (message.ValueKind != JsonValueKind.Object) throw Invalid(path, "must be an object with role and content");
        var fields = new JsonFields(message, path + ".");
        var role = fields.String("role") ?? throw fields.Invalid("role", "is required");
        if (!Roles.Contains(role))
            throw fields.Invalid("role", $"'{role}' is not supported (use {string.Join(", ", Roles)}; tool messages need tool calling, which this server lacks)");
        if (fields.Has("tool_calls")) throw fields.Invalid("tool_calls", "tool calling is not supported");
        var content = fields.Get("content");
        string text = content switch
        {
            null when role == "assistant" => "",
            null => throw fields.Invalid("content", "is required"),
            { ValueKind: JsonValueKind.String } s => s.GetString()!,
            { ValueKind: JsonValueKind.Array } parts => TextOf(parts, fields.Path("content")),
            _ => throw fields.Invalid("content", "must be a string or a list of text parts"),
        };
        return new ChatMessage(role == "developer" ? "system" : role, text);
    }

    private static string TextOf(JsonElement parts, string path)
    {
        var text = new StringBuilder();
        int i = 0;
        foreach (var part in parts.EnumerateArray())
        {
            var fields = part.ValueKind == JsonValueKind.Object ? new JsonFields(part, $"{path}[{i}].") : throw Invalid($"{path}[{i}]", "must be a content part object");
            var type = fields.String("type");
            if (type != "text") throw fields.Invalid("type", $"content parts of type '{type}' are not supported; only 'text'");
            text.Append(fields.String("text") ?? throw fields.Invalid("text", "is required"));
            i++;
        }
        return text.ToString();
    }

    private static OpenAiException Invalid(string path, string message) => new(OpenAiError.Invalid(path, message));
}
