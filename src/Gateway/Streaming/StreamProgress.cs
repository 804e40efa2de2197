namespace AlisaCluster.Gateway.Streaming;

/// <summary>What the client has received so far: the tokens (the resume point), how often the stream moved, and
/// the silo producing it now.</summary>
public sealed class StreamProgress
{
    public List<int> Generated { get; } = [];
    public int Resumes { get; set; }
    public string Silo { get; set; } = "";
}

/// <summary>The silo producing the stream was lost (or is leaving); the stream may resume elsewhere.</summary>
public sealed class SiloLostException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The stream was lost and could not be resumed within the allowed attempts.</summary>
public sealed class StreamLostException(string message, Exception inner) : Exception(message, inner);

/// <summary>A worker sent a chunk out of sequence; the stream is not passed on rather than be passed on wrong.</summary>
public sealed class StreamCorruptedException(string message) : Exception(message);
