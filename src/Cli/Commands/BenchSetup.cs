using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Engine;
using AlisaCluster.GpuWorker.Kv;
using AlisaCluster.GpuWorker.Model;
using AlisaCluster.GpuWorker.Planning;

namespace AlisaCluster.Cli.Commands;

/// <summary>How the benchmark sizes an engine for one mode, batch and memory budget:
/// gpu = all KV on the GPU (under a budget it preempts and recomputes, like vLLM);
/// offload = all KV but the block being written on the CPU, read back every step (like HF Accelerate / FlexGen);
/// tiered = ALISA's three phases, planned by the cost model.</summary>
/// <param name="hotSetMissRate">what the planner assumes of a tiered engine's GPU hot set (on the native kernel path):
/// the share of listed entries copied in per step</param>
/// <param name="forcedPlan">tiered mode: this plan instead of the planner's (--tier-plan)</param>
public sealed class BenchSetup(LoadedModel model, KvPolicy policy, bool int8, double? gpuBudgetGiB, double cpuBudgetGiB, int? gpuKvTokens = null,
    double hotSetMissRate = BenchSetup.DefaultHotSetMissRate, KvTierPlan? forcedPlan = null)
{
    public static readonly string[] Modes = ["gpu", "offload", "tiered"];

    /// <summary>The planning assumption for the hot set's CPU misses: the share of listed entries on the CPU tier that a
    /// step copies in from there. With SWA 80% + INT8 on the Llama-2-7B shape (128 + 512, seventh session,
    /// docs/alisa-kernel.md) 0.115% of all listed entries came from the CPU tier at batch 256 (~0 at batch 64), with an
    /// estimated ~60% of a sequence's candidates there over the run: ~0.2% of those. A step's misses are tokens newly
    /// listed, young, just past the recent window and mostly still in GPU blocks (2% of entries, copied GPU to GPU).</summary>
    public const double DefaultHotSetMissRate = 0.002;

    /// <summary>Whether a tiered engine on this model keeps a GPU hot set (the kernel path: CUDA and the native library).</summary>
    private bool HotSet => KernelAttention.Unsupported(model.Config, model.Model.Device) is null;

    public KvStorageFormat Format => int8 ? KvStorageFormat.Int8 : KvStorageFormat.Native;

    public sealed record Setup(EngineOptions Options, TierPlanner.Choice? Choice, string Plan);

    public Setup For(string mode, int batch, int promptLength, int generate, Func<CostModel>? costModel)
    {
        int maxLength = promptLength + generate;
        // per-KV-head SWA keeps a score ring per KV head
        int ring = policy.NeedsWindowScores ? KvBudget.ScoreRing(policy.Sparsity, maxLength) * (policy.PerKvHead ? model.Config.NumKvHeads : 1) : 0;
        var kvPerToken = KvBudget.BytesPerToken(model.Config, Format, model.Model.ElementSize, 0, false);
        var scorePerToken = KvBudget.BytesPerToken(model.Config, Format, model.Model.ElementSize, ring, policy.NeedsCumulativeScores) - kvPerToken;
        // Quest's key bounds and the page summaries: per GPU page (untiered pools only)
        double pageStats = ((policy.NeedsPageBounds ? 1 : 0) + (policy.NeedsPageSummaries ? 1 : 0)) * KvBudget.PageStatsPerToken(model.Config, 16);
        int needed = batch * (maxLength + 16);
        // every token keeps its scores on the GPU wherever its K/V live: tiers below the GPU cost score memory there;
        // a hot set's position table costs 4 bytes per GPU slot, layer and KV head
        // (a pool larger than the workload needs would only take room from activations)
        int GpuTokens(long lowerTierTokens, double slotBytes) => gpuKvTokens ?? (gpuBudgetGiB is { } gib
            ? Math.Min(needed, KvBudget.TokensFor((long)(gib * (1L << 30)) - (long)(lowerTierTokens * scorePerToken), model.Model.ParameterBytes, slotBytes))
            : needed);
        bool tiers = mode != "gpu";
        double hotBytes = tiers && HotSet ? KvCache.HotSetBytesPerSlot(model.Config.NumLayers, model.Config.NumKvHeads) : 0;
        int cpuTokens = tiers ? (int)Math.Min(needed, (long)(cpuBudgetGiB * (1L << 30) / kvPerToken)) : 0;
        int gpuTokens = GpuTokens(tiers ? 2L * needed : 0, kvPerToken + scorePerToken + hotBytes + pageStats),
            gpuOnlyTokens = GpuTokens(0, kvPerToken + scorePerToken + pageStats);
        // with a CPU tier but no recompute tier: no scores to keep for deleted tokens, so more room for the GPU pool
        int OffloadGpuTokens() => GpuTokens(needed, kvPerToken + scorePerToken + hotBytes + pageStats);
        var options = new EngineOptions
        {
            KvCapacityTokens = gpuTokens, MaxBatchSize = batch, MaxModelLength = maxLength, DefaultPolicy = policy, KvFormat = Format,
            EnableScoredPolicies = policy.NeedsWindowScores || policy.NeedsCumulativeScores, EnableH2O = policy.NeedsCumulativeScores,
            MinScoredSparsity = policy.NeedsWindowScores ? policy.Sparsity : 0.5, PerHeadScores = policy.PerKvHead,
            EnableQuestPages = policy.NeedsPageBounds, EnablePageSummaries = policy.NeedsPageSummaries,
            // every run prefills its prompts: repeated runs must not measure the prefix cache instead
            EnablePrefixCaching = false,
        };
        var work = new TierPlanner.Workload(batch, promptLength, generate, policy, 16, tiers && HotSet ? hotSetMissRate : null);
        // what the cost model predicts for a fixed plan (none for preemption, which it does not model)
        TierPlanner.Choice? Predict(KvTierPlan plan) => costModel is null ? null : TierPlanner.Evaluate(costModel(), work, new(gpuTokens, cpuTokens, 0), plan);
        switch (mode)
        {
            case "gpu":
                return new(options, Predict(KvTierPlan.AllGpu), KvTierPlan.AllGpu.ToString());
            case "offload":
                return new(options with { CpuKvCapacityTokens = cpuTokens, TierPlan = KvTierPlan.FullOffload }, Predict(KvTierPlan.FullOffload),
                    "full offload: " + KvTierPlan.FullOffload);
            case "tiered" when forcedPlan is not null:
                return new(options with { KvCapacityTokens = OffloadGpuTokens(), CpuKvCapacityTokens = cpuTokens,
                    TierPlan = forcedPlan }, Predict(forcedPlan), forcedPlan + " (--tier-plan)");
            case "tiered":
                // first without a recompute tier: its tokens' scores would take GPU room that CPU-only plans can use
                int offloadGpuTokens = OffloadGpuTokens();
                if (TierPlanner.Plan(costModel!(), work, new(offloadGpuTokens, cpuTokens, 0), gpuOnlyTokens) is { Preempts: false } offloading)
                    return new(options with { KvCapacityTokens = offloadGpuTokens, CpuKvCapacityTokens = cpuTokens, TierPlan = offloading.Plan },
                        offloading, offloading.Plan.ToString());
                var choice = TierPlanner.Plan(costModel!(), work, new(gpuTokens, cpuTokens, needed), gpuOnlyTokens);
                // without lower tiers no scores are kept for them: the whole budget is the GPU pool
                var gpuOnly = options with { KvCapacityTokens = gpuOnlyTokens };
                if (choice is null) return new(gpuOnly, null, "no feasible plan: all on the GPU with preemption");
                if (choice.Preempts) return new(gpuOnly, choice, "all on the GPU, preempting (predicted cheaper than any tiered plan)");
                return new(options with { CpuKvCapacityTokens = cpuTokens, RecomputeCapacityTokens = needed, TierPlan = choice.Plan }, choice, choice.Plan.ToString());
            default:
                throw new ArgumentException($"--kv-mode: '{mode}' is not one of {string.Join(", ", Modes)}");
        }
    }
}
