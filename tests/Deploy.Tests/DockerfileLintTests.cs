namespace AlisaCluster.Deploy.Tests;

/// <summary>scripts/lint-dockerfiles.sh (hadolint's common rules as a checklist): the images' Dockerfiles pass, and a
/// Dockerfile breaking the rules is caught rule by rule.</summary>
public sealed class DockerfileLintTests
{
    [Fact]
    public void The_image_Dockerfiles_pass_the_lint()
    {
        var run = Tool.Run("bash", ["scripts/lint-dockerfiles.sh"]);
        Assert.True(run.ExitCode == 0, run.Output + run.Error);
        Assert.Contains("2 Dockerfile(s) clean", run.Output);
    }

    [Fact]
    public void A_Dockerfile_breaking_the_rules_is_caught_rule_by_rule()
    {
        var bad = Path.Combine(Directory.CreateTempSubdirectory("alisa-lint-").FullName, "bad.Dockerfile");
        File.WriteAllText(bad, """
            FROM ubuntu
            MAINTAINER someone
            ADD . src
            WORKDIR src
            RUN apt-get install curl && curl -s x | sh
            RUN pip install torch
            FROM mcr.microsoft.com/dotnet/sdk:latest
            USER root
            CMD dotnet app.dll
            """);
        var run = Tool.Run("bash", ["scripts/lint-dockerfiles.sh", bad]);
        Assert.Equal(1, run.ExitCode);
        foreach (var rule in new[] { "DL3006", "DL4000", "DL3020", "DL3000", "DL3014", "DL3015", "DL3009", "DL4006", "DL3042", "DL3007", "DL3025", "DL3002", "AL001", "AL002" })
            Assert.Contains($"{bad}: {rule} ", run.Output);
    }
}
