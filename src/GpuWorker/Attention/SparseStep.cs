using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Attention;

/// <summary>The per-step, per-sequence inputs of sparse selection, computed once on the host for all layers and
/// uploaded together: each row's segments (sinks, global budget, start of the recent window; per layer and KV head
/// where a policy's split is learned), and for SWA's windowed scores the ring column this step writes and the columns
/// that leave the window now (each sequence's ScoreFloor moves past them).</summary>
public sealed class SparseStep : IDisposable
{
    /// <param name="modelLayers">the model's layer count, which a pyramid's per-layer budgets are spread over</param>
    public SparseStep(AttentionBatch batch, TokenScores? scores, Device device, int modelLayers = 1)
        : this(batch.Sequences.Select(s => s.Policy).ToArray(), scores, device)
    {
        _modelLayers = modelLayers;
        int rows = batch.Sequences.Count;
        var budgets = batch.Sequences.Select((s, b) => SelectionBudget.For(s.Policy, batch.StartPositions[b] + batch.QueryLength)).ToArray();
        Lengths = tensor(budgets.Select(b => (long)b.Length).ToArray(), device: device).view(rows, 1);
        _layers = LayerSelections(batch, PerHead ? scores!.KvHeads : 1, device);
        if (Policies.Any(p => p.NeedsWindowScores && p.MeanScores))
        {
            // caps the divisor (steps a position existed within the score window); 1 turns it off for rows that rank by sum
            var windows = budgets.Select((b, i) => Policies[i].MeanScores ? (float)b.ScoreWindow : 1f).ToArray();
            MeanWindow = tensor(windows, device: device).view(rows, 1, 1);
        }
        if (UsesWindow)
        {
            var leaving = batch.Sequences.Select((s, b) => LeavingSteps(s, budgets[b], scores!.Ring)).ToArray();
            foreach (var (sequence, steps) in batch.Sequences.Zip(leaving)) sequence.ScoreFloor += steps.Count;
            int width = leaving.Max(l => l.Count);
            var columns = new long[rows * width];
            for (int b = 0; b < rows; b++)
                for (int j = 0; j < width; j++) columns[b * width + j] = j < leaving[b].Count ? leaving[b][j] % scores!.Ring : -1;
            CurrentColumns = tensor(budgets.Select(b => (long)((b.Length - 1) % scores!.Ring)).ToArray(), [rows, 1], device: device);
            LeavingColumns = tensor(columns, [rows, width], device: device);
            Window = scores!.IndexOf(batch.ReadSlots, CurrentColumns, LeavingColumns);
        }
    }

    private SparseStep(KvPolicy[] policies, TokenScores? scores, Device device)
    {
        Policies = policies;
        int rows = policies.Length;
        UsesWindow = Policies.Any(p => p.NeedsWindowScores);
        UsesCumulative = Policies.Any(p => p.NeedsCumulativeScores);
        RanksByQuery = Policies.Any(p => p.RanksByQuery);
        PerHead = UsesCumulative || Policies.Any(p => p.NeedsWindowScores && p.PerKvHead);
        if (UsesWindow && (scores is null || !scores.HasWindow)) throw new InvalidOperationException("SWA needs a window score store");
        if (UsesCumulative && (scores is null || !scores.HasCumulative)) throw new InvalidOperationException("H2O needs a cumulative score store");
        if (Policies.Any(p => p.NeedsWindowScores && p.PerKvHead) && scores!.WindowGroups == 1)
            throw new InvalidOperationException("per-KV-head SWA needs a per-head window score store");
        IsH2O = tensor(Policies.Select(p => p.NeedsCumulativeScores).ToArray(), device: device).view(rows, 1, 1);
        if (Policies.Any(p => p.NeedsPageSummaries))
            AsksSummaries = tensor(Policies.Select(p => (byte)(p.NeedsPageSummaries ? 1 : 0)).ToArray(), device: device);
        PerHeadWindow = tensor(Policies.Select(p => p.NeedsWindowScores && p.PerKvHead).ToArray(), device: device).view(rows, 1, 1);
    }

    /// <summary>The steps that leave a sequence's score window at this step (from its ScoreFloor to the window's first
    /// step); its ScoreFloor moves past them once the step is planned.</summary>
    public static List<int> LeavingSteps(Kv.SequenceKv sequence, SelectionBudget budget, int ring)
    {
        if (!sequence.Policy.NeedsWindowScores) return [];
        if (budget.ScoreWindow >= ring) throw new InvalidOperationException($"score window {budget.ScoreWindow} exceeds the ring of {ring}");
        int first = Math.Max(0, budget.Length - 1 - budget.ScoreWindow);
        return Enumerable.Range(sequence.ScoreFloor, Math.Max(0, first - sequence.ScoreFloor)).ToList();
    }

    /// <summary>A step for a CUDA graph of <paramref name="rows"/> sequences under one policy: its inputs are static
    /// device buffers the graph step stages before each replay: lengths [B], segments [B, 3] int64 (sinks, global,
    /// recent start; the same in every layer), this step's ring column [B, 1] and the one leaving it [B, 1] (-1: none).
    /// Bounds are those of <paramref name="maxLength"/> positions. Create it before capturing; call
    /// <see cref="Derive"/> inside the capture.</summary>
    public static SparseStep ForGraph(KvPolicy policy, int rows, int maxLength, TokenScores? scores, Tensor lengths, Tensor segments,
        Tensor column, Tensor leavingColumn)
    {
        if (!CanCapture(policy)) throw new ArgumentException($"policy {policy} is not captured in graphs", nameof(policy));
        var step = new SparseStep(Enumerable.Repeat(policy, rows).ToArray(), scores, lengths.device) { Lengths = lengths.view(rows, 1) };
        var bound = SelectionBudget.For(policy, maxLength);
        step._staged = (segments, column, leavingColumn, scores, bound);
        if (step.UsesWindow) (step.CurrentColumns, step.LeavingColumns) = (column.alias(), leavingColumn.alias());
        return step;
    }

    /// <summary>Policies whose selection inputs are the same in every layer (no learned split, no pyramid) and need no
    /// per-row divisor. Quest is not captured: its page bounds are kept by host-planned writes
    /// (<see cref="Kv.WritePlan.Pages"/>), and its exact top-k runs the TorchSharp selection.</summary>
    public static bool CanCapture(KvPolicy policy) =>
        !policy.IsDense && !policy.MeanScores && policy.RecentFractions is null && policy.PyramidSlope == 0 && !policy.RanksByQuery;

    /// <summary>[B] uint8: the rows that attend the pages' summaries of what they leave out, or null when none does.</summary>
    public Tensor? AsksSummaries { get; }

    private (Tensor Segments, Tensor Column, Tensor Leaving, TokenScores? Scores, SelectionBudget Bound)? _staged;

    /// <summary>Graph steps: derives the device-side selection inputs from the staged buffers and this step's read
    /// slots (recorded into the graph, so every replay recomputes them).</summary>
    public void Derive(Tensor readSlots)
    {
        var (segments, column, leaving, scores, bound) = _staged ?? throw new InvalidOperationException("only graph steps derive their inputs");
        long groups = PerHead ? scores!.KvHeads : 1;
        foreach (var layer in _layers) layer.Segments.Dispose();
        Window?.Dispose();
        var perGroup = segments.to(ScalarType.Int32).unsqueeze(1).expand(Policies.Length, groups, 3).contiguous();
        _layers = [new LayerSelection(perGroup, bound.Global, Math.Min(bound.Length, bound.Sinks + bound.Global + bound.Recent))];
        if (UsesWindow) Window = scores!.IndexOf(readSlots, column, leaving);
    }

    /// <summary>One layer's selection inputs: Segments [B, SG, 3] int32 = (sinks, global budget, recent start), SG = KV
    /// heads when selection is per head, else 1; MaxGlobal bounds any row's global count, MaxEntries its attended entries.
    /// Quest rows give their whole pages' tokens per KV head as the global budget (Ada-KV moves pages between heads).</summary>
    public sealed record LayerSelection(Tensor Segments, int MaxGlobal, int MaxEntries);

    private LayerSelection[] _layers = [];
    private readonly int _modelLayers = 1;

    /// <summary>One entry for all layers unless a row's split is learned per layer or its budget is a pyramid.</summary>
    private LayerSelection[] LayerSelections(AttentionBatch batch, int groups, Device device)
    {
        int rows = Policies.Length;
        var learned = Policies.Where(p => p.NeedsWindowScores).Select(p => p.RecentFractions).Where(f => f is not null).ToList();
        int layers = learned.Count == 0 ? 1 : learned.Max(f => f!.Length);
        if (Policies.Any(p => p.PyramidSlope != 0)) layers = Math.Max(layers, _modelLayers);
        if (learned.Any(f => f!.Length != layers || f.Any(h => h.Length != groups)))
            throw new InvalidOperationException($"a learned split must give {layers} layers x {groups} KV heads");
        var segments = new int[layers * rows * groups * 3];
        var bounds = new (int MaxGlobal, int MaxEntries)[layers];
        for (int layer = 0; layer < layers; layer++)
            for (int b = 0; b < rows; b++)
                for (int h = 0; h < groups; h++)
                {
                    var budget = SelectionBudget.For(Policies[b], batch.StartPositions[b] + batch.QueryLength, layer, h, layers);
                    var (sinks, global, recentStart, entries) = Policies[b].RanksByQuery
                        ? QuestPageSelector.Segments(Policies[b], budget, batch.Sequences[b].BlockSize)
                        : Segments(budget);
                    int at = ((layer * rows + b) * groups + h) * 3;
                    (segments[at], segments[at + 1], segments[at + 2]) = (sinks, global, recentStart);
                    bounds[layer] = (Math.Max(bounds[layer].MaxGlobal, global), Math.Max(bounds[layer].MaxEntries, entries));
                }
        _segments = tensor(segments, [layers, rows, groups, 3], device: device);
        return Enumerable.Range(0, layers).Select(layer => new LayerSelection(_segments[layer], bounds[layer].MaxGlobal, bounds[layer].MaxEntries)).ToArray();
    }

    private Tensor? _segments;

    /// <summary>A row's segments (sinks, global budget, recent start) and most attended entries.</summary>
    private static (int Sinks, int Global, int RecentStart, int MaxEntries) Segments(SelectionBudget budget)
    {
        int recentStart = budget.Length - budget.Recent, sinks = Math.Min(budget.Sinks, recentStart);
        return (sinks, budget.Global, recentStart, sinks + budget.Global + budget.Recent);
    }

    /// <summary>The selection inputs of <paramref name="layer"/>.</summary>
    public LayerSelection Layer(int layer)
    {
        if (_layers.Length == 1) return _layers[0];
        return layer < _layers.Length ? _layers[layer] : throw new InvalidOperationException($"the learned split has {_layers.Length} layers, the model more");
    }

    public KvPolicy[] Policies { get; }
    public bool UsesWindow { get; }
    public bool UsesCumulative { get; }
    /// <summary>Some rows are Quest's, selected by <see cref="QuestPageSelector"/>.</summary>
    public bool RanksByQuery { get; }
    /// <summary>Selection differs between KV heads (H2O, per-head SWA); otherwise one selection per layer.</summary>
    public bool PerHead { get; }
    /// <summary>[B, 1] cached positions of each row, the new token included.</summary>
    public Tensor Lengths { get; private init; } = null!;
    public Tensor IsH2O { get; }
    /// <summary>[B, 1, 1] rows whose SWA selection is per KV head (the others share one selection per layer).</summary>
    public Tensor PerHeadWindow { get; }
    /// <summary>[B, 1, 1] score window of rows that rank by mean weight (1 for rows that rank by sum).</summary>
    public Tensor? MeanWindow { get; private init; }
    /// <summary>SWA: this step's place in the window stores (its ring column, the columns leaving the window).</summary>
    public TokenScores.WindowIndex? Window { get; private set; }
    /// <summary>SWA: the ring column [B, 1] each row writes this step and those [B, J] leaving its window (-1: none).</summary>
    public Tensor? CurrentColumns { get; private set; }
    public Tensor? LeavingColumns { get; private set; }

    public void Dispose()
    {
        foreach (var t in new[] { Lengths, IsH2O, PerHeadWindow, MeanWindow, AsksSummaries, _segments, CurrentColumns, LeavingColumns }) t?.Dispose();
        Window?.Dispose();
        foreach (var layer in _layers) layer.Segments.Dispose();
    }
}
