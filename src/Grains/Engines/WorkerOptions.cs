namespace AlisaCluster.Grains.Engines;

/// <summary>The "Worker" configuration section of a GPU-worker silo.</summary>
public sealed class WorkerOptions
{
    public const string Section = "Worker";

    /// <summary>Hugging Face checkpoint folder; empty = the bundled models/tiny-llama above the working directory.</summary>
    public string Model { get; set; } = "";
    /// <summary>One engine per entry: "auto" (CUDA when present, else CPU), "cpu", "cuda:0", ...; none = one "auto".
    /// Empty by default: the configuration binder appends to an array's initial items, so a default entry would
    /// add a second engine to every configured list.</summary>
    public string[] Devices { get; set; } = [];

    public IReadOnlyList<string> DeviceList() => Devices.Length == 0 ? ["auto"] : Devices;
    /// <summary>"fp32", "fp16", "bf16"; empty = the device's default.</summary>
    public string DType { get; set; } = "";
    /// <summary>GPU KV pool in tokens; 0 = sized from <see cref="GpuMemoryUtilization"/> on CUDA devices and
    /// <see cref="CpuDeviceKvTokens"/> on the CPU.</summary>
    public int KvCapacityTokens { get; set; }
    /// <summary>Share of each GPU's memory the engine may fill with weights, KV, scores and working room (vLLM's
    /// gpu_memory_utilization); sizes the KV pool unless <see cref="KvCapacityTokens"/> is set.</summary>
    public double GpuMemoryUtilization { get; set; } = 0.9;
    public const int CpuDeviceKvTokens = 16384;
    public int MaxBatchSize { get; set; } = 64;
    public int MaxWaiting { get; set; } = 1024;
    /// <summary>CPU threads for tensor work; 0 = all cores.</summary>
    public int Threads { get; set; }
    /// <summary>KV policy of requests that name none, in the engine's text form.</summary>
    public string DefaultKvPolicy { get; set; } = "dense";
    /// <summary>Keep SWA scores per KV head, so requests may use per-head and learned splits (KV heads times the score memory).</summary>
    public bool PerHeadScores { get; set; }
    /// <summary>Automatic prefix caching: prompts with a cached prefix share its KV instead of prefilling it
    /// (<see cref="GpuWorker.Engine.EngineOptions.EnablePrefixCaching"/>; untiered KV pools only).</summary>
    public bool EnablePrefixCaching { get; set; } = true;
    /// <summary>Keep per-page key and value sums so requests may ask for ":summaries" (costs KV capacity; off by default).</summary>
    public bool EnablePageSummaries { get; set; }
    /// <summary>Pinned CPU memory for KV in tokens (ALISA phase II); 0 = all KV on the GPU.</summary>
    public int CpuKvCapacityTokens { get; set; }
    /// <summary>The CPU tier in GiB of pinned host memory instead of tokens (wins over <see cref="CpuKvCapacityTokens"/>
    /// when above 0): what a container's memory limit has to cover.</summary>
    public double CpuKvMemoryGiB { get; set; }
    /// <summary>With a CPU tier, keep SWA/H2O sequences' selected rows in GPU hot blocks so a step moves only newly
    /// selected rows over PCIe (<see cref="GpuWorker.Engine.EngineOptions.HotSet"/>; the native kernel path only).</summary>
    public bool KvHotSet { get; set; } = true;
    /// <summary>Tokens that may be deleted and recomputed at once (ALISA phase III).</summary>
    public int RecomputeCapacityTokens { get; set; }
    /// <summary>The three-phase plan ("p1,p2,alpha,beta,recent", as `alisa bench --explain` prints it); empty = none.</summary>
    public string KvTierPlan { get; set; } = "";

    public GpuWorker.Planning.KvTierPlan? TierPlan() => string.IsNullOrWhiteSpace(KvTierPlan) ? null : GpuWorker.Planning.KvTierPlan.Parse(KvTierPlan);

    /// <summary>How decode steps run: "auto" (CUDA graphs and the native kernels where the native library is present
    /// and the KV cache is untiered native-dtype, else eager), "graph" (refuse to start without them), "eager".</summary>
    public string DecodeStep { get; set; } = "auto";
    /// <summary>Issue each decode step before the previous step's tokens reach the host (vLLM's async scheduling;
    /// <see cref="GpuWorker.Engine.EngineOptions.AsyncScheduling"/>).</summary>
    public bool AsyncScheduling { get; set; } = true;
    /// <summary>Most prompt tokens prefilled per step while other sequences decode (chunked prefill).</summary>
    public int PrefillChunkTokens { get; set; } = 512;

    public GpuWorker.Engine.DecodeStepKind DecodeStepKind() =>
        Enum.TryParse<GpuWorker.Engine.DecodeStepKind>(DecodeStep, ignoreCase: true, out var kind) ? kind
            : throw new ArgumentException($"Worker:DecodeStep '{DecodeStep}' is not one of auto, graph, eager", nameof(DecodeStep));

    /// <summary>A sequence that produced nothing for this long sends a keep-alive chunk, so the gateway notices a lost
    /// silo (or a lost route to it) within its Gateway:TokenIdleTimeout instead of waiting for a token.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>On shutdown, how long running sequences may finish before they are handed over to other silos.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(20);
}
