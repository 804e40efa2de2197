namespace AlisaCluster.Gateway.ChatTemplates;

/// <summary>A Jinja chat template (tokenizer_config.json's chat_template), parsed once. The supported subset is what the
/// common templates use: {{ }} output, if/elif/else, for (with loop.index0/first/last/...), set (also on a namespace()),
/// filters and tests of <see cref="TemplateFilters"/>, ~ and + concatenation, comparisons, in, slicing, and
/// raise_exception. Anything else is refused with a <see cref="ChatTemplateException"/> naming it.</summary>
public sealed class ChatTemplate
{
    private readonly List<Node> _nodes;

    private ChatTemplate(List<Node> nodes) => _nodes = nodes;

    public static ChatTemplate Parse(string source) => new(TemplateParser.Parse(source));

    /// <summary>Renders with Hugging Face's variables: messages (role, content), add_generation_prompt, bos_token,
    /// eos_token, and tools = documents = None.</summary>
    public string Render(IEnumerable<(string Role, string Content)> messages, bool addGenerationPrompt, string bosToken, string eosToken) =>
        TemplateRenderer.Render(_nodes, new Dictionary<string, object?>
        {
            ["messages"] = messages.Select(m => (object?)new Dictionary<string, object?> { ["role"] = m.Role, ["content"] = m.Content }).ToList(),
            ["add_generation_prompt"] = addGenerationPrompt,
            ["bos_token"] = bosToken,
            ["eos_token"] = eosToken,
            ["tools"] = null,
            ["documents"] = null,
        });
}
