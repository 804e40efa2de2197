using Prometheus;

namespace AlisaCluster.Gateway.Metrics;

/// <summary>The gateway's Prometheus metrics, named after vLLM's (vllm:* -> alisa_*).</summary>
public static class GatewayMetrics
{
    private static readonly double[] LatencyBuckets = [0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];

    public static readonly Gauge RequestsRunning = Prometheus.Metrics.CreateGauge("alisa_num_requests_running", "Generate streams that are producing tokens.");
    public static readonly Gauge RequestsWaiting = Prometheus.Metrics.CreateGauge("alisa_num_requests_waiting", "Admitted generate streams still waiting for their first token.");
    public static readonly Histogram TimeToFirstToken = Prometheus.Metrics.CreateHistogram("alisa_time_to_first_token_seconds", "Time from request arrival to the first token.",
        new HistogramConfiguration { Buckets = LatencyBuckets });
    public static readonly Histogram InterTokenLatency = Prometheus.Metrics.CreateHistogram("alisa_inter_token_latency_seconds", "Time between two tokens of a stream.",
        new HistogramConfiguration { Buckets = LatencyBuckets });
    public static readonly Histogram E2eLatency = Prometheus.Metrics.CreateHistogram("alisa_e2e_request_latency_seconds", "Time from request arrival to the final message.",
        new HistogramConfiguration { Buckets = LatencyBuckets });
    public static readonly Counter PromptTokens = Prometheus.Metrics.CreateCounter("alisa_prompt_tokens_total", "Prompt tokens of admitted requests.");
    public static readonly Counter GenerationTokens = Prometheus.Metrics.CreateCounter("alisa_generation_tokens_total", "Tokens streamed to clients.");
    public static readonly Counter RequestsSucceeded = Prometheus.Metrics.CreateCounter("alisa_request_success_total", "Finished requests by finish reason.", "finished_reason");
    public static readonly Counter RequestsFailed = Prometheus.Metrics.CreateCounter("alisa_request_failure_total", "Failed requests by gRPC status code.", "code");
    public static readonly Counter Resumes = Prometheus.Metrics.CreateCounter("alisa_stream_resumes_total", "Streams moved to another silo after their silo was lost.");
    public static readonly Gauge KvUsage = Prometheus.Metrics.CreateGauge("alisa_kv_cache_usage_perc", "KV pool usage of each worker silo (0..1).", "silo");
    public static readonly Gauge WorkerRunning = Prometheus.Metrics.CreateGauge("alisa_worker_requests_running", "Sequences running in each worker silo's engines.", "silo");
    public static readonly Gauge WorkerWaiting = Prometheus.Metrics.CreateGauge("alisa_worker_requests_waiting", "Sequences queued in each worker silo's engines.", "silo");
    public static readonly Gauge CpuKvUsage = Prometheus.Metrics.CreateGauge("alisa_cpu_kv_cache_usage_perc", "CPU KV tier usage of each worker silo (0..1).", "silo");
    public static readonly Gauge KvBytesOffloaded = Prometheus.Metrics.CreateGauge("alisa_kv_offloaded_bytes", "KV bytes each worker silo moved from GPU to CPU since start.", "silo");
    public static readonly Gauge KvBytesFetched = Prometheus.Metrics.CreateGauge("alisa_kv_fetched_bytes", "KV bytes each worker silo read back from the CPU since start.", "silo");
    public static readonly Gauge KvTokensRecomputed = Prometheus.Metrics.CreateGauge("alisa_kv_recomputed_tokens", "Dropped KV tokens each worker silo recomputed since start.", "silo");
    public static readonly Gauge SequencesInPhase = Prometheus.Metrics.CreateGauge("alisa_sequences_in_phase", "Running sequences per ALISA KV phase (1 GPU, 2 +CPU, 3 +recompute).", "silo", "phase");
    public static readonly Gauge Workers = Prometheus.Metrics.CreateGauge("alisa_worker_silos", "Worker silos that answered the last load poll.");
}
