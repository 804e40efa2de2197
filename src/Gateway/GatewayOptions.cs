namespace AlisaCluster.Gateway;

/// <summary>The "Gateway" configuration section.</summary>
public sealed class GatewayOptions
{
    public const string Section = "Gateway";

    /// <summary>gRPC (HTTP/2 cleartext) port.</summary>
    public int GrpcPort { get; set; } = 50051;
    /// <summary>HTTP/1.1 port for /health/live, /health/ready and /metrics.</summary>
    public int HttpPort { get; set; } = 8080;
    /// <summary>Most generate streams in flight on this gateway; beyond it: RESOURCE_EXHAUSTED.</summary>
    public int MaxInFlight { get; set; } = 256;
    /// <summary>Most streams in flight per API key (a key may set its own).</summary>
    public int MaxInFlightPerKey { get; set; } = 64;
    /// <summary>A worker with this many sequences queued takes no more streams from admission (see
    /// Admission/CapacityAdmission); when no worker has room, a stream waits AdmissionWait, then RESOURCE_EXHAUSTED.</summary>
    public int MaxWorkerWaiting { get; set; } = 16;
    public TimeSpan AdmissionWait { get; set; } = TimeSpan.FromSeconds(2);
    /// <summary>Tokens (prompt + max_tokens of each admitted stream) an API key may use per minute, counted in Redis
    /// across all gateways (a key may set its own); 0 = no budget.</summary>
    public int TokensPerMinutePerKey { get; set; }
    /// <summary>When true, every call needs "authorization: Bearer KEY" with a key from the key store.</summary>
    public bool RequireApiKey { get; set; }
    /// <summary>Keys written to the key store at startup (dev and tests; production adds them to Redis directly).</summary>
    public ApiKeySeed[] ApiKeys { get; set; } = [];
    public TimeSpan SessionTtl { get; set; } = TimeSpan.FromHours(1);
    /// <summary>How often a stream's progress is written to the session store, off the token path (batched).</summary>
    public TimeSpan SessionFlushInterval { get; set; } = TimeSpan.FromMilliseconds(200);
    /// <summary>A key found in the store is trusted this long without asking again; while the store is unreachable a
    /// known key keeps working on its last record.</summary>
    public TimeSpan ApiKeyCacheTtl { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>How often the keys of Gateway:ApiKeys are checked and written back when missing (e.g. after Redis lost
    /// its data).</summary>
    public TimeSpan ApiKeyReseedInterval { get; set; } = TimeSpan.FromSeconds(5);
    /// <summary>Timeout of one Redis operation (one retry follows); Redis being down fails at once.</summary>
    public TimeSpan RedisTimeout { get; set; } = TimeSpan.FromSeconds(1);
    /// <summary>How often a stream may move to another silo after its silo was lost.</summary>
    public int MaxResumes { get; set; } = 3;
    /// <summary>Wait before the first resume (doubling after each): placement must first see the silo gone, which takes
    /// a failed load poll (WorkerLoadPoller: every 250 ms, 1 s call timeout; a killed process refuses at once) or a
    /// membership update; a loss noticed through TokenIdleTimeout has given the pollers that time already.</summary>
    public TimeSpan ResumeDelay { get; set; } = TimeSpan.FromSeconds(0.5);
    /// <summary>Nothing from the silo for this long (workers send a keep-alive every Worker:KeepAliveInterval while a
    /// sequence waits): the silo, or the route to it, is presumed lost and the stream resumes elsewhere.</summary>
    public TimeSpan TokenIdleTimeout { get; set; } = TimeSpan.FromSeconds(2);
    /// <summary>Timeout of one unary grain call (tokenize, model info).</summary>
    public TimeSpan GrainCallTimeout { get; set; } = TimeSpan.FromSeconds(10);
    public GatewayTls Tls { get; set; } = new();
}

public sealed class ApiKeySeed
{
    public string Name { get; set; } = "";
    public string Key { get; set; } = "";
    /// <summary>0 = the gateway's MaxInFlightPerKey.</summary>
    public int MaxInFlight { get; set; }
    /// <summary>0 = the gateway's TokensPerMinutePerKey.</summary>
    public int TokensPerMinute { get; set; }
}
