namespace AlisaCluster.GpuWorker.Native;

/// <summary>The host reference of <see cref="HotSetKernel"/>'s slot assignment for one (sequence, selection group): the
/// attended list is the sinks [0, sinks) then the listed positions, cut to the hot capacity (n entries); slot j &lt; n
/// keeps its position if it is listed again; the positions not kept, in list order, take the other slots j &lt; n in
/// ascending order; slots from n on are emptied (-1).</summary>
public static class HotSetReference
{
    public sealed record Result(int[] Held, int Copied);

    /// <param name="held">the position each hot slot held before (-1: none), one per slot of the capacity</param>
    public static Result Update(IReadOnlyList<int> held, int sinks, IReadOnlyList<int> listed, int length)
    {
        int n = Math.Min(sinks + listed.Count, held.Count);
        var wanted = Enumerable.Range(0, n).Select(i => i < sinks ? i : listed[i - sinks]).ToArray();
        bool Valid(int p) => p >= 0 && p < length;
        var selected = wanted.Where(Valid).ToHashSet();
        var kept = Enumerable.Range(0, n).Where(j => Valid(held[j]) && selected.Contains(held[j])).Select(j => held[j]).ToHashSet();
        var misses = wanted.Where(p => !(Valid(p) && kept.Contains(p))).ToArray();
        var frees = Enumerable.Range(0, n).Where(j => !(Valid(held[j]) && selected.Contains(held[j]))).ToArray();
        var after = held.ToArray();
        int pairs = Math.Min(misses.Length, frees.Length);
        for (int k = 0; k < pairs; k++) after[frees[k]] = misses[k];
        for (int j = n; j < after.Length; j++) after[j] = -1;
        return new Result(after, misses.Take(pairs).Count(Valid));
    }
}
