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
public sealed class BenchSetup(LoadedModel model, KvPolicy policy, bool int8, double? gpuBudgetGiB, double cpuBudgetGiB, int? gpuKvTokens = null)
{
    public static readonly string[] Modes = ["gpu", "offload", "tiered"];

    public KvStorageFormat Format => int8 ? KvStorageFormat.Int8 : KvStorageFormat.Native;

    public sealed record Setup(EngineOptions Options, TierPlanner.Choice? Choice, string Plan);

    public Setup For(string mode, int batch, int promptLength, int generate, Func<CostModel>? costModel)
    {
        int maxLength = promptLength + generate;
        int ring = policy.NeedsWindowScores ? KvBudget.ScoreRing(policy.Sparsity, maxLength) : 0;
        var kvPerToken = KvBudget.BytesPerToken(model.Config, Format, model.Model.ElementSize, 0, false);
        var scorePerToken = KvBudget.BytesPerToken(model.Config, Format, model.Model.ElementSize, ring, policy.NeedsCumulativeScores) - kvPerToken;
        int needed = batch * (maxLength + 16);
        // every token keeps its scores on the GPU wherever its K/V live: tiers below the GPU cost score memory there
        int GpuTokens(long lowerTierTokens) => gpuKvTokens ?? (gpuBudgetGiB is { } gib
            ? KvBudget.TokensFor((long)(gib * (1L << 30)) - (long)(lowerTierTokens * scorePerToken), model.Model.ParameterBytes, kvPerToken + scorePerToken)
            : needed);
        int cpuTokens = mode == "gpu" ? 0 : (int)Math.Min(needed, (long)(cpuBudgetGiB * (1L << 30) / kvPerToken));
        int gpuTokens = GpuTokens(mode == "gpu" ? 0 : 2L * needed), gpuOnlyTokens = GpuTokens(0);
        var options = new EngineOptions
        {
            KvCapacityTokens = gpuTokens, MaxBatchSize = batch, MaxModelLength = maxLength, DefaultPolicy = policy, KvFormat = Format,
            EnableScoredPolicies = policy.NeedsWindowScores || policy.NeedsCumulativeScores, EnableH2O = policy.NeedsCumulativeScores,
            MinScoredSparsity = policy.NeedsWindowScores ? policy.Sparsity : 0.5, PerHeadScores = policy.PerKvHead,
            EnableQuestPages = policy.NeedsPageBounds,
            // every run prefills its prompts: repeated runs must not measure the prefix cache instead
            EnablePrefixCaching = false,
        };
        var work = new TierPlanner.Workload(batch, promptLength, generate, policy, 16);
        // what the cost model predicts for a fixed plan (none for preemption, which it does not model)
        TierPlanner.Choice? Predict(KvTierPlan plan) => costModel is null ? null : TierPlanner.Evaluate(costModel(), work, new(gpuTokens, cpuTokens, 0), plan);
        switch (mode)
        {
            case "gpu":
                return new(options, Predict(KvTierPlan.AllGpu), KvTierPlan.AllGpu.ToString());
            case "offload":
                return new(options with { CpuKvCapacityTokens = cpuTokens, TierPlan = KvTierPlan.FullOffload }, Predict(KvTierPlan.FullOffload),
                    "full offload: " + KvTierPlan.FullOffload);
            case "tiered":
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
