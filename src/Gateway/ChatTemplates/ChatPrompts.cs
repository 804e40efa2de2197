using AlisaCluster.Gateway.Models;
using AlisaCluster.Gateway.OpenAi;

namespace AlisaCluster.Gateway.ChatTemplates;

/// <summary>Turns chat messages into the prompt text with the model's chat template (parsed once), a template given
/// with the request, or, for a checkpoint without one (the bundled tiny models), <see cref="Fallback"/>.</summary>
public sealed class ChatPrompts(ModelCatalog models)
{
    /// <summary>Plain "Role: text" lines, then "Assistant:" to prompt the reply; documented in docs/openai-api.md.</summary>
    public const string Fallback =
        "{{ bos_token }}{% for message in messages %}{{ message['role'] | capitalize }}: {{ message['content'] | trim }}\n{% endfor %}" +
        "{% if add_generation_prompt %}Assistant:{% endif %}";

    private ChatTemplate? _modelTemplate;

    public async Task<string> RenderAsync(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt, string? requestTemplate, CancellationToken cancellationToken)
    {
        var source = await models.ChatTemplateAsync(cancellationToken);
        var origin = requestTemplate is not null ? "the request's chat_template" : source.Template is not null ? "the model's chat template" : "the fallback chat template";
        try
        {
            var template = requestTemplate is not null ? ChatTemplate.Parse(requestTemplate) : _modelTemplate ??= ChatTemplate.Parse(source.Template ?? Fallback);
            return template.Render(messages.Select(m => (m.Role, m.Content)), addGenerationPrompt, source.BosToken, source.EosToken);
        }
        catch (ChatTemplateException e) when (e.Raised)
        {
            throw new OpenAiException(OpenAiError.Invalid("messages", $"{origin} refused them: {e.Message}"));
        }
        catch (ChatTemplateException e)
        {
            throw new OpenAiException(OpenAiError.Invalid("chat_template", $"{origin} cannot be rendered: {e.Message}"));
        }
    }
}
