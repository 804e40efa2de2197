namespace AlisaCluster.Grains;

/// <summary>The worker refused the request as given (bad field, or it can never fit): retrying elsewhere will not help.</summary>
[GenerateSerializer]
public sealed class SequenceRejectedException : Exception
{
    public SequenceRejectedException(string field, string message, bool exceedsCapacity = false) : base(message)
    {
        Field = field;
        ExceedsCapacity = exceedsCapacity;
    }

    /// <summary>The request field at fault, in the API's snake_case ("max_tokens", "kv_policy", ...).</summary>
    [Id(0)] public string Field { get; }
    /// <summary>True when the request is valid but larger than the worker's KV pool or queue.</summary>
    [Id(1)] public bool ExceedsCapacity { get; }
}

/// <summary>The worker is shutting down and gave the sequence up; the caller resumes it on another silo.</summary>
[GenerateSerializer]
public sealed class SequenceHandoverException(string message) : Exception(message);

/// <summary>No live worker silo (one with an engine that is not draining) is known to the placing silo.</summary>
[GenerateSerializer]
public sealed class NoWorkerAvailableException(string message) : Exception(message);
