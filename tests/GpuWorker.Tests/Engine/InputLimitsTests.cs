using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Engine;

namespace AlisaCluster.GpuWorker.Tests.Engine;

/// <summary>The engine's own checks (the CLI uses it without the gateway): extreme values are ArgumentExceptions
/// naming the field, never overflows or silent acceptance. Pure validation, no model.</summary>
public sealed class InputLimitsTests
{
    public static TheoryData<string, SamplingParams> BadSampling => new()
    {
        { "temperature", new SamplingParams { Temperature = 1e30 } },
        { "temperature", new SamplingParams { Temperature = double.PositiveInfinity } },
        { "temperature", new SamplingParams { Temperature = double.NaN } },
        { "temperature", new SamplingParams { Temperature = 1e-300 } },
        { "temperature", new SamplingParams { Temperature = -1 } },
        { "top_k", new SamplingParams { TopK = int.MaxValue } },
        { "top_k", new SamplingParams { TopK = -1 } },
        { "repetition_penalty", new SamplingParams { RepetitionPenalty = double.PositiveInfinity } },
        { "repetition_penalty", new SamplingParams { RepetitionPenalty = double.NaN } },
        { "repetition_penalty", new SamplingParams { RepetitionPenalty = 101 } },
        { "stop", new SamplingParams { Stop = Enumerable.Repeat("x", 100_000).ToList() } },
        { "stop", new SamplingParams { Stop = [new string('x', 1 << 20)] } },
        { "stop", new SamplingParams { Stop = [""] } },
        { "max_tokens", new SamplingParams { MaxTokens = 0 } },
    };

    [Theory]
    [MemberData(nameof(BadSampling))]
    public void Extreme_sampling_params_are_rejected_naming_the_field(string field, SamplingParams sampling)
    {
        var error = Assert.Throws<ArgumentException>(sampling.Validate);
        Assert.Equal(field, error.ParamName);
        Assert.StartsWith(field + " ", error.Message);
    }

    [Fact]
    public void Limits_themselves_are_accepted()
    {
        new SamplingParams { Temperature = 0 }.Validate();
        new SamplingParams { Temperature = SamplingParams.MinTemperature, TopK = SamplingParams.MaxTopK, RepetitionPenalty = 100 }.Validate();
        new SamplingParams { Temperature = 100, Stop = Enumerable.Repeat(new string('x', 256), 16).ToList(), MaxTokens = int.MaxValue }.Validate();
        var error = Assert.Throws<ArgumentException>(new SamplingParams { Temperature = 1e-5 }.Validate);
        Assert.Contains("[0.0001, 100]", error.Message); // the message names the range
    }

    [Theory]
    [InlineData("swa:0.8:sinks=99999999999", "kv_policy")]
    [InlineData("swa:0.8:sinks=-1", "kv_policy")]
    [InlineData("swa:0.8:sinks=2000000", "kv_policy")]
    [InlineData("swa:0.8:sinks=abc", "kv_policy")]
    [InlineData("swa:0.8:sinks=", "kv_policy")]
    [InlineData("swa:0.8:local=1e999", "kv_policy")]
    [InlineData("swa:0.8:local=NaN", "kv_policy")]
    [InlineData("swa:0.8:local=1.5", "kv_policy")]
    [InlineData("swa:0.8:local=x", "kv_policy")]
    [InlineData("swa:0.999999", "kv_sparsity")]
    [InlineData("h2o:NaN", "kv_sparsity")]
    [InlineData("local:-0.1", "kv_sparsity")]
    [InlineData("streaming:1", "kv_sparsity")]
    [InlineData("swa:0.8:bogus", "kv_policy")]
    [InlineData("lru:0.5", "kv_policy")]
    public void Bad_kv_policies_are_rejected_naming_the_field(string text, string field)
    {
        var error = Assert.Throws<ArgumentException>(() => KvPolicy.Parse(text));
        Assert.Equal(field, error.ParamName);
    }

    [Fact]
    public void Kv_policy_limits_are_accepted()
    {
        var policy = KvPolicy.Parse("swa:0.99:sinks=1048576:local=1");
        Assert.Equal((0.99, KvPolicy.MaxSinks, 1.0), (policy.Sparsity, policy.Sinks, policy.LocalFraction));
        Assert.Throws<ArgumentException>((new KvPolicy(KvPolicyKind.H2O, 0.995)).Validate);
    }
}
