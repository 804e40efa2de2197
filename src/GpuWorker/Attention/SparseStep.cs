using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Attention;

/// <summary>The per-step, per-sequence inputs of sparse selection, computed once on the host for all layers and
/// uploaded together: each row's segments (sinks, global budget, start of the recent window; per layer and KV head
/// where a policy's split is learned), and for SWA's windowed scores the ring column this step writes and the columns
/// that leave the window now (each sequence's ScoreFloor moves past them).</summary>
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
        _layers = LayerSelections(batch, PerHead ? scores!.KvHeads : 1, device);
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
            var (columns, leaving) = WindowColumns(batch, scores!.Ring, device);
            using (columns) using (leaving) Window = scores.IndexOf(batch.ReadSlots, columns, leaving);
        }
    }

    /// <summary>One layer's selection inputs: Segments [B, SG, 3] int32 = (sinks, global budget, recent start), SG = KV
    /// heads when selection is per head, else 1; MaxGlobal bounds any row's global count, MaxEntries its attended entries.</summary>
    public sealed record LayerSelection(Tensor Segments, int MaxGlobal, int MaxEntries);

    private readonly LayerSelection[] _layers;

    /// <summary>One entry for all layers unless a row's split is learned per layer.</summary>
    private LayerSelection[] LayerSelections(AttentionBatch batch, int groups, Device device)
    {
        int rows = Policies.Length;
        var learned = Policies.Where(p => p.NeedsWindowScores).Select(p => p.RecentFractions).Where(f => f is not null).ToList();
        int layers = learned.Count == 0 ? 1 : learned.Max(f => f!.Length);
        if (learned.Any(f => f!.Length != layers || f.Any(h => h.Length != groups)))
            throw new InvalidOperationException($"a learned split must give {layers} layers x {groups} KV heads");
        var segments = new int[layers * rows * groups * 3];
        var bounds = new (int MaxGlobal, int MaxEntries)[layers];
        for (int layer = 0; layer < layers; layer++)
            for (int b = 0; b < rows; b++)
                for (int h = 0; h < groups; h++)
                {
                    var budget = SelectionBudget.For(Policies[b], batch.StartPositions[b] + batch.QueryLength, layer, h);
                    int recentStart = budget.Length - budget.Recent, sinks = Math.Min(budget.Sinks, recentStart);
                    int at = ((layer * rows + b) * groups + h) * 3;
                    (segments[at], segments[at + 1], segments[at + 2]) = (sinks, budget.Global, recentStart);
                    bounds[layer] = (Math.Max(bounds[layer].MaxGlobal, budget.Global), Math.Max(bounds[layer].MaxEntries, sinks + budget.Global + budget.Recent));
                }
        _segments = tensor(segments, [layers, rows, groups, 3], device: device);
        return Enumerable.Range(0, layers).Select(layer => new LayerSelection(_segments[layer], bounds[layer].MaxGlobal, bounds[layer].MaxEntries)).ToArray();
    }

    private Tensor? _segments;

    /// <summary>The ring column of this step [B, 1], and [B, J] the columns of steps that left each row's window since its
    /// last step (-1 pads), moving each sequence's ScoreFloor to its window's first step.</summary>
    private (Tensor Columns, Tensor Leaving) WindowColumns(AttentionBatch batch, int ring, Device device)
    {
        int rows = Policies.Length;
        var leaving = new List<int>[rows];
        for (int b = 0; b < rows; b++)
        {
            int step = Budgets[b].Length - 1; // the query's position
            if (Policies[b].NeedsWindowScores && Budgets[b].ScoreWindow >= ring)
                throw new InvalidOperationException($"score window {Budgets[b].ScoreWindow} exceeds the ring of {ring}");
            var sequence = batch.Sequences[b];
            int first = Math.Max(0, step - Budgets[b].ScoreWindow);
            leaving[b] = Policies[b].NeedsWindowScores ? Enumerable.Range(sequence.ScoreFloor, Math.Max(0, first - sequence.ScoreFloor)).Select(s => s % ring).ToList() : [];
            if (Policies[b].NeedsWindowScores) sequence.ScoreFloor = Math.Max(sequence.ScoreFloor, first);
        }
        int width = leaving.Max(l => l.Count);
        var columns = new long[rows * width];
        for (int b = 0; b < rows; b++)
            for (int j = 0; j < width; j++) columns[b * width + j] = j < leaving[b].Count ? leaving[b][j] : -1;
        return (tensor(Budgets.Select(b => (long)((b.Length - 1) % ring)).ToArray(), [rows, 1], device: device),
            tensor(columns, [rows, width], device: device));
    }

    /// <summary>The selection inputs of <paramref name="layer"/>.</summary>
    public LayerSelection Layer(int layer)
    {
        if (_layers.Length == 1) return _layers[0];
        return layer < _layers.Length ? _layers[layer] : throw new InvalidOperationException($"the learned split has {_layers.Length} layers, the model more");
    }

    /// <summary>Per row: the budget of layer 0 (length, sinks and score window are the same in every layer).</summary>
    public SelectionBudget[] Budgets { get; }
    public KvPolicy[] Policies { get; }
    public bool UsesWindow { get; }
    public bool UsesCumulative { get; }
    /// <summary>Selection differs between KV heads (H2O, per-head SWA); otherwise one selection per layer.</summary>
    public bool PerHead { get; }
    /// <summary>[B, 1] cached positions of each row, the new token included.</summary>
    public Tensor Lengths { get; }
    public Tensor IsH2O { get; }
    /// <summary>[B, 1, 1] rows whose SWA selection is per KV head (the others share one selection per layer).</summary>
    public Tensor PerHeadWindow { get; }
    /// <summary>[B, 1, 1] score window of rows that rank by mean weight (1 for rows that rank by sum).</summary>
    public Tensor? MeanWindow { get; }
    /// <summary>SWA: this step's place in the window stores (its ring column, the columns leaving the window).</summary>
    public TokenScores.WindowIndex? Window { get; }

    public void Dispose()
    {
        foreach (var t in new[] { Lengths, IsH2O, PerHeadWindow, MeanWindow, _segments }) t?.Dispose();
        Window?.Dispose();
        foreach (var layer in _layers) layer.Segments.Dispose();
    }
}
