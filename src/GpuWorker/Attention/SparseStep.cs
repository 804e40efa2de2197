using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Attention;

/// <summary>The per-step, per-sequence inputs of sparse selection, computed once on the host for all layers:
/// each row's budget (per layer and KV head where a policy's split is learned), which ring columns form its score
/// window, and where its new scores go.</summary>
public sealed class SparseStep : IDisposable
{
    public SparseStep(AttentionBatch batch, TokenScores? scores, Device device)
    {
        int rows = batch.Sequences.Count;
        Budgets = batch.Sequences.Select((s, b) => SelectionBudget.For(s.Policy, batch.StartPositions[b] + batch.QueryLength)).ToArray();
        Policies = batch.Sequences.Select(s => s.Policy).ToArray();
        UsesWindow = Policies.Any(p => p.NeedsWindowScores);
        UsesCumulative = Policies.Any(p => p.NeedsCumulativeScores);
        PerHead = UsesCumulative || Policies.Any(p => p.NeedsWindowScores && p.PerKvHead);
        if (UsesWindow && (scores is null || !scores.HasWindow)) throw new InvalidOperationException("SWA needs a window score store");
        if (UsesCumulative && (scores is null || !scores.HasCumulative)) throw new InvalidOperationException("H2O needs a cumulative score store");
        if (Policies.Any(p => p.NeedsWindowScores && p.PerKvHead) && scores!.WindowGroups == 1)
            throw new InvalidOperationException("per-KV-head SWA needs a per-head window score store");

        Lengths = tensor(Budgets.Select(b => (long)b.Length).ToArray(), device: device).view(rows, 1);
        Sinks = tensor(Budgets.Select(b => (long)b.Sinks).ToArray(), device: device).view(rows, 1);
        _layers = LayerBudgets(batch, scores, device);
        MaxSelected = _layers.Max(l => l.MaxSelected);
        IsH2O = tensor(Policies.Select(p => p.NeedsCumulativeScores).ToArray(), device: device).view(rows, 1, 1);
        PerHeadWindow = tensor(Policies.Select(p => p.NeedsWindowScores && p.PerKvHead).ToArray(), device: device).view(rows, 1, 1);
        if (Policies.Any(p => p.NeedsWindowScores && p.MeanScores))
        {
            // caps the divisor (steps a position existed within the score window); 1 turns it off for rows that rank by sum
            var windows = Budgets.Select((b, i) => Policies[i].MeanScores ? (float)b.ScoreWindow : 1f).ToArray();
            MeanWindow = tensor(windows, device: device).view(rows, 1, 1);
        }
        if (UsesWindow)
        {
            int ring = scores!.Ring;
            var weights = new float[rows * ring];
            for (int b = 0; b < rows; b++)
            {
                int step = Budgets[b].Length - 1; // the query's position
                if (Budgets[b].ScoreWindow >= ring) throw new InvalidOperationException($"score window {Budgets[b].ScoreWindow} exceeds the ring of {ring}");
                for (int s = Math.Max(0, step - Budgets[b].ScoreWindow); s < step; s++) weights[b * ring + s % ring] = 1;
            }
            ColumnWeights = tensor(weights, [rows, ring], device: device);
            Columns = tensor(Budgets.Select(b => (long)((b.Length - 1) % ring)).ToArray(), [rows, 1], device: device);
        }
    }

    /// <summary>Recent and global counts of one layer, [B, H, 1] (H = KV heads where a learned split differs between
    /// heads, else 1); MaxSelected bounds any row's selection.</summary>
    public sealed record LayerBudget(Tensor Recent, Tensor Global, int MaxGlobal, int MaxSelected);

    private readonly LayerBudget[] _layers;
    private Tensor? _counts;

    /// <summary>One entry for all layers unless a row's split is learned per layer.</summary>
    private LayerBudget[] LayerBudgets(AttentionBatch batch, TokenScores? scores, Device device)
    {
        int rows = Policies.Length;
        var learned = Policies.Where(p => p.NeedsWindowScores).Select(p => p.RecentFractions).Where(f => f is not null).ToList();
        int layers = learned.Count == 0 ? 1 : learned.Max(f => f!.Length);
        int heads = learned.Count == 0 ? 1 : scores!.KvHeads;
        if (learned.Any(f => f!.Length != layers || f.Any(h => h.Length != heads)))
            throw new InvalidOperationException($"a learned split must give {layers} layers x {heads} KV heads");
        // every layer's recent and global counts in one host array, uploaded once per step: [layers, 2, rows, heads]
        var counts = new long[layers * 2 * rows * heads];
        var bounds = new (int MaxGlobal, int MaxSelected)[layers];
        for (int layer = 0; layer < layers; layer++)
        {
            int maxGlobal = 0, maxSelected = 0;
            for (int b = 0; b < rows; b++)
            for (int h = 0; h < heads; h++)
            {
                var budget = SelectionBudget.For(Policies[b], batch.StartPositions[b] + batch.QueryLength, layer, h);
                counts[((layer * 2) * rows + b) * heads + h] = budget.Recent;
                counts[((layer * 2 + 1) * rows + b) * heads + h] = budget.Global;
                (maxGlobal, maxSelected) = (Math.Max(maxGlobal, budget.Global), Math.Max(maxSelected, budget.MaxSelected));
            }
            bounds[layer] = (maxGlobal, maxSelected);
        }
        _counts = tensor(counts, [layers, 2, rows, heads, 1], device: device);
        return Enumerable.Range(0, layers).Select(layer => new LayerBudget(_counts[layer, 0], _counts[layer, 1], bounds[layer].MaxGlobal,
            bounds[layer].MaxSelected)).ToArray();
    }

    /// <summary>The budget of <paramref name="layer"/>.</summary>
    public LayerBudget Layer(int layer)
    {
        if (_layers.Length == 1) return _layers[0];
        return layer < _layers.Length ? _layers[layer] : throw new InvalidOperationException($"the learned split has {_layers.Length} layers, the model more");
    }

    /// <summary>Per row: the budget of layer 0 (length, sinks and score window are the same in every layer).</summary>
    public SelectionBudget[] Budgets { get; }
    public KvPolicy[] Policies { get; }
    public int MaxSelected { get; }
    public bool UsesWindow { get; }
    public bool UsesCumulative { get; }
    /// <summary>Selection differs between KV heads (H2O, per-head SWA); otherwise one selection per layer.</summary>
    public bool PerHead { get; }
    public Tensor Lengths { get; }
    public Tensor Sinks { get; }
    public Tensor IsH2O { get; }
    /// <summary>[B, 1, 1] rows whose SWA selection is per KV head (the others share one selection per layer).</summary>
    public Tensor PerHeadWindow { get; }
    public Tensor? ColumnWeights { get; }
    /// <summary>[B, 1, 1] score window of rows that rank by mean weight (1 for rows that rank by sum).</summary>
    public Tensor? MeanWindow { get; }
    public Tensor? Columns { get; }

    public void Dispose()
    {
        foreach (var t in new[] { Lengths, Sinks, IsH2O, PerHeadWindow, ColumnWeights, Columns, MeanWindow }) t?.Dispose();
        foreach (var layer in _layers) { layer.Recent.Dispose(); layer.Global.Dispose(); }
        _counts?.Dispose();
    }
}
