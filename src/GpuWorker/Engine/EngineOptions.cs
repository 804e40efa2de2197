using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Kv;

namespace AlisaCluster.GpuWorker.Engine;

public sealed record EngineOptions
{
    /// <summary>KV pool size in tokens (all sequences together); admission waits when it is full.</summary>
    public int KvCapacityTokens { get; init; } = 16384;
    public int BlockSize { get; init; } = 16;
    /// <summary>Most sequences decoded in one step.</summary>
    public int MaxBatchSize { get; init; } = 64;
    /// <summary>Most requests queued for admission; beyond it Submit refuses (back-pressure).</summary>
    public int MaxWaiting { get; init; } = 1024;
    public long Seed { get; init; } = 1234;
    /// <summary>KV policy of requests that do not choose one.</summary>
    public KvPolicy DefaultPolicy { get; init; } = KvPolicy.Dense;
    public KvStorageFormat KvFormat { get; init; } = KvStorageFormat.Native;
    /// <summary>Longest prompt + output a request may have (vLLM's max_model_len); null = the model's context.</summary>
    public int? MaxModelLength { get; init; }
    /// <summary>Keep per-token scores so requests may use SWA (a ring of recent steps' weights per cached token).</summary>
    public bool EnableScoredPolicies { get; init; } = true;
    /// <summary>Keep per-token cumulative weights so requests may use H2O (KV heads x 5 bytes per cached token and layer).</summary>
    public bool EnableH2O { get; init; } = true;
    /// <summary>Lowest KV sparsity an SWA request may ask for: it sizes each token's score history (ring of steps).</summary>
    public double MinScoredSparsity { get; init; } = 0.5;
    /// <summary>Pinned CPU memory for KV, in tokens (ALISA phase II); 0 = no CPU tier.</summary>
    public int CpuKvCapacityTokens { get; init; }
    /// <summary>Tokens that may be deleted and recomputed at once (ALISA phase III); 0 = never delete.</summary>
    public int RecomputeCapacityTokens { get; init; }
    /// <summary>When tokens move to the CPU and get deleted (from <see cref="Planning.TierPlanner"/>); null = all on the GPU.</summary>
    public Planning.KvTierPlan? TierPlan { get; init; }
    /// <summary>How decode steps run (see <see cref="DecodeStepKind"/>): Auto takes CUDA graphs where they can run.</summary>
    public DecodeStepKind DecodeStep { get; init; } = DecodeStepKind.Auto;
    /// <summary>vLLM's async scheduling: a decode step is issued before the previous step's tokens reach the host (it
    /// feeds them from the device), so scheduling, staging and handing out tokens overlap the device's work instead of
    /// leaving it idle between steps. A sequence that ends at a step costs one discarded row in the next.</summary>
    public bool AsyncScheduling { get; init; } = true;
    /// <summary>Most prompt tokens prefilled in a step while other sequences are decoding (chunked prefill): bounds how
    /// long a new prompt delays the running streams' next token.</summary>
    public int PrefillChunkTokens { get; init; } = 512;
    /// <summary>Most prompt tokens prefilled in a step when no sequence is decoding (no stream to delay), or when the
    /// sequences waiting for their prefill outnumber the decoding ones by <see cref="WaitingServedRatio"/>.</summary>
    public int PrefillTokensWhenIdle { get; init; } = 8192;
    /// <summary>TGI's waiting_served_ratio: with at least this many sequences waiting for prefill per decoding sequence,
    /// the decodes are held for a full prefill step (a burst of arrivals gets its first tokens together instead of
    /// trickling in at the chunk rate); below it, prefill is chunked to protect the running streams.</summary>
    public double WaitingServedRatio { get; init; } = 1.2;
    /// <summary>Keep per-page key bounds so requests may use Quest (2 x KV heads x head dim floats per block and layer;
    /// untiered pools only).</summary>
    public bool EnableQuestPages { get; init; } = true;
    /// <summary>Keep per-page key and value sums so requests may use summaries (<see cref="Attention.KvPolicy.Summaries"/>:
    /// 2 x KV heads x head dim floats per block and layer; untiered pools with blocks of
    /// <see cref="Attention.KvPolicy.SummaryPageTokens"/> tokens only). Off by default: it costs KV capacity.</summary>
    public bool EnablePageSummaries { get; init; }
    /// <summary>With a CPU tier on the native kernel path, keep each listing sequence's selected rows in GPU hot blocks
    /// so a step moves only the newly selected rows over PCIe (<see cref="Kv.KvCache.HasHotSet"/>).</summary>
    public bool HotSet { get; init; } = true;
    /// <summary>Automatic prefix caching (vLLM's enable_prefix_caching): full KV blocks of prompts stay cached by a hash of
    /// their tokens and are shared by later sequences with the same leading tokens instead of being prefilled. Untiered
    /// pools only (ignored with a CPU or recompute tier); SWA and H2O requests do not share.</summary>
    public bool EnablePrefixCaching { get; init; } = true;
    /// <summary>Keep SWA scores per KV head, so requests may use per-head selection (KV heads times the memory).</summary>
    public bool PerHeadScores { get; init; }
}
