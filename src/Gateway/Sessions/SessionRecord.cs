namespace AlisaCluster.Gateway.Sessions;

public static class SessionStates
{
    public const string Queued = "queued", Running = "running", Finished = "finished", Aborted = "aborted", Failed = "failed";
}

/// <summary>The metadata of one generate stream: who asked, where it runs, how far it got (the tokens themselves, so
/// the stream can be resumed on another silo), and when.</summary>
public sealed record SessionRecord
{
    public required string RequestId { get; init; }
    public required string ApiKeyName { get; init; }
    /// <summary>Distinguishes this stream from any other that might claim the same request id.</summary>
    public required string StreamId { get; init; }
    public string State { get; init; } = SessionStates.Queued;
    public string Silo { get; init; } = "";
    public int PromptTokens { get; init; }
    public IReadOnlyList<int> GeneratedTokens { get; init; } = [];
    public int Resumes { get; init; }
    public string FinishReason { get; init; } = "";
    public DateTimeOffset CreatedAt { get; init; } = DateTimeOffset.UtcNow;
    public DateTimeOffset UpdatedAt { get; init; } = DateTimeOffset.UtcNow;
}
