using System.Text.Json;
using AlisaCluster.ClusterTesting;
using AlisaCluster.Gateway.ChatTemplates;

namespace AlisaCluster.Gateway.Tests.ChatTemplates;

/// <summary>The gateway's Jinja subset renders the published chat templates (Llama-3, Qwen2.5, Mistral-Instruct,
/// Phi-3, ChatML), the fallback and a template using the rest of the subset exactly as Python's jinja2 does: the
/// expected texts and errors come from tools/chat_templates/render_expected.py.</summary>
public sealed class ChatTemplateRenderingTests
{
    private static readonly string Folder = Path.Combine(RepoPaths.Root, "tests", "Gateway.Tests", "ChatTemplates");
    private static readonly JsonElement Expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, "expected.json"))).RootElement;
    private static readonly JsonElement Cases = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, "cases.json"))).RootElement;

    public static TheoryData<string, string> TemplateCases()
    {
        var data = new TheoryData<string, string>();
        foreach (var template in Expected.GetProperty("templates").EnumerateObject())
            foreach (var rendered in template.Value.EnumerateObject()) data.Add(template.Name, rendered.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(TemplateCases))]
    public void Renders_what_jinja2_renders(string templateName, string caseName)
    {
        var template = ChatTemplate.Parse(File.ReadAllText(Path.Combine(Folder, "templates", templateName + ".jinja")));
        var conversation = Cases.EnumerateArray().Single(c => c.GetProperty("name").GetString() == caseName);
        var messages = conversation.GetProperty("messages").EnumerateArray()
            .Select(m => (m.GetProperty("role").GetString()!, m.GetProperty("content").GetString()!)).ToList();
        bool addGenerationPrompt = conversation.GetProperty("add_generation_prompt").GetBoolean();
        var expected = Expected.GetProperty("templates").GetProperty(templateName).GetProperty(caseName);
        string Render() => template.Render(messages, addGenerationPrompt, Expected.GetProperty("bos_token").GetString()!, Expected.GetProperty("eos_token").GetString()!);

        if (expected.TryGetProperty("error", out var error))
        {
            var refused = Assert.Throws<ChatTemplateException>(Render);
            Assert.True(refused.Raised);
            Assert.Equal(error.GetString(), refused.Message);
        }
        else Assert.Equal(expected.GetProperty("output").GetString(), Render());
    }

    [Fact]
    public void The_fallback_template_is_the_one_checked_against_jinja2() =>
        Assert.Equal(ChatPrompts.Fallback, File.ReadAllText(Path.Combine(Folder, "templates", "fallback.jinja")));

    [Theory]
    [InlineData("{% macro greet(name) %}hi{% endmacro %}", "'{% macro %}' statement is not supported")]
    [InlineData("{{ messages | selectattr('role', 'equalto', 'user') | list }}", "the 'selectattr' filter is not supported")]
    [InlineData("{{ x is divisibleby(3) }}", "the 'divisibleby' test is not supported")]
    [InlineData("{% for m in messages %}{{ m.content }}", "missing '{% endfor %}'")]
    [InlineData("{{ strftime_now('%d') }}", "the function 'strftime_now' is not supported")]
    [InlineData("{{ 'a' + messages }}", "unsupported operand types for +: a string and a list")]
    [InlineData("{{ '%s' % 'x' }}", "string formatting with '%' is not supported")]
    [InlineData("{{ nothing.role }}", "'nothing' is undefined")]
    public void Unsupported_constructs_are_refused_by_name(string source, string message)
    {
        var e = Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(source).Render([("user", "hi")], true, "<s>", "</s>"));
        Assert.Contains(message, e.Message);
        Assert.False(e.Raised);
    }
}
