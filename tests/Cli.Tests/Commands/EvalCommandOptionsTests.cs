using AlisaCluster.Cli.Commands;

namespace AlisaCluster.Cli.Tests.Commands;

/// <summary>Bad counts are ArgumentExceptions naming the option (Program prints them as a clean error), found before
/// the model loads, not an index error mid-run.</summary>
public sealed class EvalCommandOptionsTests
{
    [Theory]
    [InlineData("--agreement-prompts", "0", "--agreement-prompts")]
    [InlineData("--agreement-prompts", "-2", "--agreement-prompts")]
    [InlineData("--agreement-tokens", "0", "--agreement-tokens")]
    [InlineData("--agreement-tokens", "1024", "--agreement-tokens")]
    [InlineData("--agreement-prompt-len", "0", "--agreement-prompt-len")]
    [InlineData("--window", "0", "--window")]
    [InlineData("--batch", "-1", "--batch")]
    [InlineData("--max-windows", "0", "--max-windows")]
    [InlineData("--agreement-prompts", "99999999999", "--agreement-prompts")]
    [InlineData("--sparsity", "0.5,x", "--sparsity")]
    [InlineData("--sparsity", "0.999999", "--sparsity")]
    public async Task Bad_option_is_an_argument_exception_naming_it(string option, string value, string named)
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() =>
            EvalCommand.RunAsync(CommandLine.Parse(["--text", "no-such-file.txt", option, value, "--model", "no-such-model"])));
        Assert.StartsWith(named, error.Message);
    }
}
