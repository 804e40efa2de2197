using AlisaCluster.GpuWorker;
using AlisaCluster.GpuWorker.Kv;
using AlisaCluster.GpuWorker.Native;
using static TorchSharp.torch;

namespace AlisaCluster.Cli.Commands;

/// <summary>native-check's cases for the GPU hot set (native/src/hot_set.cu): a ragged batch whose blocks lie on the
/// GPU and on a page-locked CPU tier, hot slots holding an earlier selection, then two steps of new selections
/// (overlapping the held ones) through <see cref="HotSetKernel"/>. Per step: the slot assignment and listed order
/// equal <see cref="HotSetReference"/>'s, every hot row equals its source row byte for byte, the counters add up,
/// and attention read through the hot slots equals attention over the same selection read through the block table.</summary>
public static class HotSetCheck
{
    public static IEnumerable<NativeCheckCommand.FusedCase> Cases()
    {
        var device = new Device("cuda");
        foreach (var (int8, perHead) in new[] { (false, true), (true, true), (true, false) })
        {
            using var scope = NewDisposeScope();
            const int blockSize = 16, kvHeads = 4, heads = 8, d = 128, gpuBlocks = 48, cpuBlocks = 32;
            int[] lengths = [150, 97, 40];
            int[] hotBlockCounts = [3, 2, 0]; // the last row keeps no hot set: its selection passes through
            int batch = lengths.Length, groups = perHead ? kvHeads : 1, maxBlocks = lengths.Max() / blockSize + 1;
            var random = new Random(int8 ? 3 : 2);
            var keys = randn([(gpuBlocks + cpuBlocks) * blockSize, kvHeads, d], ScalarType.Float16, device);
            var values = randn(keys.shape, ScalarType.Float16, device);
            KvPoolTensors all = new(keys, values);
            if (int8)
            {
                var (kc, kp) = Int8KvLayerStore.Quantize(keys);
                var (vc, vp) = Int8KvLayerStore.Quantize(values);
                all = new KvPoolTensors(kc, vc, kp, vp);
            }
            Tensor Gpu(Tensor? t) => t!.narrow(0, 0, gpuBlocks * blockSize).clone();
            Tensor Host(Tensor? t) => t!.narrow(0, gpuBlocks * blockSize, cpuBlocks * blockSize).cpu().pin_memory();
            var gpu = new KvPoolTensors(Gpu(all.Keys), Gpu(all.Values), int8 ? Gpu(all.KeyParams) : null, int8 ? Gpu(all.ValueParams) : null);
            var cpu = new KvPoolTensors(Host(all.Keys), Host(all.Values), int8 ? Host(all.KeyParams) : null, int8 ? Host(all.ValueParams) : null);
            // data blocks: odd logical blocks on the CPU tier; hot blocks: GPU blocks no sequence reads through its table
            var gpuFree = new Queue<int>(Enumerable.Range(1, gpuBlocks - 1).OrderBy(_ => random.Next()));
            var cpuFree = new Queue<int>(Enumerable.Range(0, cpuBlocks).OrderBy(_ => random.Next()));
            var table = new long[batch * maxBlocks];
            for (int b = 0; b < batch; b++)
                for (int i = 0; i <= lengths[b] / blockSize; i++) table[b * maxBlocks + i] = i % 2 == 1 ? gpuBlocks + cpuFree.Dequeue() : gpuFree.Dequeue();
            int maxHot = hotBlockCounts.Max();
            var hotTable = new long[batch * maxHot];
            Array.Fill(hotTable, -1L);
            for (int b = 0; b < batch; b++)
                for (int i = 0; i < hotBlockCounts[b]; i++) hotTable[b * maxHot + i] = gpuFree.Dequeue();
            var blockTable = tensor(table, [batch, maxBlocks], device: device);
            var hotTableTensor = tensor(hotTable, [batch, maxHot], device: device);
            var lengthTensor = tensor(lengths.Select(n => (long)n).ToArray(), device: device);
            var hotPositions = full([gpuBlocks * blockSize, kvHeads], Scalars.Of(-1L), ScalarType.Int32, device);
            var counters = zeros(4, ScalarType.Int64, device);
            // what each (row, group) held before: an earlier selection of distinct middle positions
            var held = new int[batch][][];
            for (int b = 0; b < batch; b++)
            {
                held[b] = new int[groups][];
                for (int g = 0; g < groups; g++)
                {
                    int capacity = hotBlockCounts[b] * blockSize;
                    held[b][g] = Enumerable.Range(0, lengths[b]).OrderBy(_ => random.Next()).Take(capacity).Select(p => random.Next(4) == 0 ? -1 : p).ToArray();
                }
            }
            WriteHeld(hotPositions, held, hotTable, maxHot, blockSize, kvHeads, perHead);
            FillHeldRows(held, gpu, cpu, table, maxBlocks, hotTable, maxHot, blockSize, kvHeads, gpuBlocks, perHead);
            for (int step = 0; step < 2; step++)
            {
                var (selection, sinks, listed) = Selection(random, lengths, groups, held, device);
                var expectedHeld = new int[batch][][];
                int expectedEntries = 0, expectedCopied = 0;
                for (int b = 0; b < batch; b++)
                {
                    expectedHeld[b] = new int[groups][];
                    for (int g = 0; g < groups; g++)
                    {
                        var result = HotSetReference.Update(held[b][g], sinks[b][g], listed[b][g], lengths[b]);
                        expectedHeld[b][g] = result.Held;
                        if (hotBlockCounts[b] > 0) { expectedEntries += Math.Min(sinks[b][g] + listed[b][g].Length, held[b][g].Length); expectedCopied += result.Copied; }
                    }
                }
                var before = counters.cpu().data<long>().ToArray();
                var hot = HotSetKernel.Update(selection, hotPositions, hotTableTensor, counters, gpu, cpu, gpuBlocks, blockTable, lengthTensor, blockSize);
                var after = counters.cpu().data<long>().ToArray();
                bool assignment = SameAssignment(hot, hotPositions, expectedHeld, selection, hotTable, maxHot, blockSize, kvHeads, perHead);
                bool counted = after[0] - before[0] == expectedEntries && after[1] + after[2] - before[1] - before[2] == expectedCopied;
                bool rows = RowsMatchSources(hot, gpu, cpu, blockTable, hotTable, maxHot, lengths, blockSize, kvHeads, gpuBlocks, perHead);
                // the attention kernel through the hot slots against the same selection through the block table
                var query = randn([batch, heads, d], ScalarType.Float16, device);
                var viaHot = empty([batch, heads, d], ScalarType.Float16, device);
                var viaTable = empty([batch, heads, d], ScalarType.Float16, device);
                PagedDecodeAttentionKernel.Run(viaHot, query, gpu, blockTable, lengthTensor, blockSize, 0.088f, cpu, gpuBlocks, hot);
                PagedDecodeAttentionKernel.Run(viaTable, query, gpu, blockTable, lengthTensor, blockSize, 0.088f, cpu, gpuBlocks, selection);
                double error = viaHot.to(ScalarType.Float32).sub(viaTable.to(ScalarType.Float32)).abs().max().item<float>();
                string shape = $"step {step}, rows {batch}, {(int8 ? "int8" : "fp16")}, {(perHead ? "per-head" : "shared")} selection, assignment {assignment}, rows {rows}, counters {counted}";
                yield return new NativeCheckCommand.FusedCase("hot_set", int8 ? "Int8" : "Float16", shape, error, 2e-3, error <= 2e-3 && assignment && rows && counted);
                held = expectedHeld;
            }
        }
    }

    private static void WriteHeld(Tensor hotPositions, int[][][] held, long[] hotTable, int maxHot, int blockSize, int kvHeads, bool perHead)
    {
        var host = hotPositions.cpu().data<int>().ToArray();
        for (int b = 0; b < held.Length; b++)
            for (int g = 0; g < held[b].Length; g++)
                for (int j = 0; j < held[b][g].Length; j++)
                    foreach (int h in GroupHeads(g, perHead, kvHeads))
                        host[HotSlot(hotTable, maxHot, b, j, blockSize) * kvHeads + h] = held[b][g][j];
        hotPositions.copy_(tensor(host, hotPositions.shape));
    }

    /// <summary>Puts the rows of the held positions into their hot slots, as earlier steps would have.</summary>
    private static void FillHeldRows(int[][][] held, KvPoolTensors gpu, KvPoolTensors cpu, long[] table, int maxBlocks, long[] hotTable, int maxHot,
        int blockSize, int kvHeads, long gpuBlocks, bool perHead)
    {
        for (int b = 0; b < held.Length; b++)
            for (int g = 0; g < held[b].Length; g++)
                for (int j = 0; j < held[b][g].Length; j++)
                {
                    int p = held[b][g][j];
                    if (p < 0) continue;
                    foreach (var (hot, source) in HotAndSourceRows(gpu, cpu, table[b * maxBlocks + p / blockSize], p,
                                 HotSlot(hotTable, maxHot, b, j, blockSize), GroupHeads(g, perHead, kvHeads), blockSize, gpuBlocks))
                        hot.copy_(source);
                }
    }

    /// <summary>The KV heads of selection group g: itself per head, all of them for one selection per layer.</summary>
    private static IEnumerable<int> GroupHeads(int g, bool perHead, int kvHeads) => perHead ? [g] : Enumerable.Range(0, kvHeads);

    /// <summary>Per head and pool tensor (K, V and, for INT8, their parameters): the row of hot slot `slot` and the row of
    /// position p where the block table puts it (block ids at or past gpuBlocks: the CPU tier).</summary>
    private static IEnumerable<(Tensor Hot, Tensor Source)> HotAndSourceRows(KvPoolTensors gpu, KvPoolTensors cpu, long block, int p, long slot,
        IEnumerable<int> heads, int blockSize, long gpuBlocks)
    {
        var pools = new[] { (gpu.Keys, cpu.Keys), (gpu.Values, cpu.Values), (gpu.KeyParams, cpu.KeyParams), (gpu.ValueParams, cpu.ValueParams) };
        foreach (int h in heads)
            foreach (var (onGpu, onCpu) in pools)
                if (onGpu is not null && onCpu is not null)
                    yield return (onGpu[slot, h], block < gpuBlocks ? onGpu[block * blockSize + p % blockSize, h] : onCpu[(block - gpuBlocks) * blockSize + p % blockSize, h]);
    }

    private static long HotSlot(long[] hotTable, int maxHot, int b, int j, int blockSize) => hotTable[b * maxHot + j / blockSize] * blockSize + j % blockSize;

    /// <summary>Per (row, group): up to 3 sinks, then listed middle positions of which about half were held before.</summary>
    private static (AttentionSelection Selection, int[][] Sinks, int[][][] Listed) Selection(Random random, int[] lengths, int groups, int[][][] held, Device device)
    {
        int batch = lengths.Length, width = 64;
        var segments = new int[batch * groups * 3];
        var positions = new int[batch * groups * width];
        var sinks = new int[batch][];
        var listed = new int[batch][][];
        for (int b = 0; b < batch; b++)
        {
            sinks[b] = new int[groups];
            listed[b] = new int[groups][];
            for (int g = 0; g < groups; g++)
            {
                int recent = lengths[b] - 8, capacity = held[b][g].Length, s = random.Next(4);
                int count = Math.Min(Math.Max(0, (capacity > 0 ? capacity : 20) - s - random.Next(3)), width);
                var again = held[b][g].Where(p => p >= s && p < recent).OrderBy(_ => random.Next()).Take(count / 2);
                var fresh = Enumerable.Range(s, recent - s).OrderBy(_ => random.Next());
                listed[b][g] = again.Concat(fresh).Distinct().Take(count).ToArray();
                sinks[b][g] = s;
                int at = (b * groups + g) * 3;
                (segments[at], segments[at + 1], segments[at + 2]) = (s, listed[b][g].Length, recent);
                for (int i = 0; i < listed[b][g].Length; i++) positions[(b * groups + g) * width + i] = listed[b][g][i];
            }
        }
        return (new AttentionSelection(tensor(segments, [batch, groups, 3], device: device), tensor(positions, [batch, groups, width], device: device)), sinks, listed);
    }

    /// <summary>Rows with hot blocks: segments (0, n, recent start), listed = the reference's slots in order, the position
    /// table as the reference says for every head of the group; rows without: the selection unchanged.</summary>
    private static bool SameAssignment(AttentionSelection hot, Tensor hotPositions, int[][][] expected, AttentionSelection given, long[] hotTable, int maxHot,
        int blockSize, int kvHeads, bool perHead)
    {
        var segments = hot.Segments.cpu().data<int>().ToArray();
        var givenSegments = given.Segments.cpu().data<int>().ToArray();
        var listed = hot.Positions.cpu().data<int>().ToArray();
        var table = hotPositions.cpu().data<int>().ToArray();
        long width = hot.Positions.shape[2];
        for (int b = 0; b < expected.Length; b++)
            for (int g = 0; g < expected[b].Length; g++)
            {
                int at = (b * expected[b].Length + g) * 3;
                if (expected[b][g].Length == 0)
                {
                    if (!segments.AsSpan(at, 3).SequenceEqual(givenSegments.AsSpan(at, 3))) return false;
                    continue;
                }
                int n = expected[b][g].TakeWhile(p => p >= 0).Count();
                if (segments[at] != 0 || segments[at + 1] != n || segments[at + 2] != givenSegments[at + 2]) return false;
                for (int j = 0; j < expected[b][g].Length; j++)
                {
                    if (j < n && listed[(b * expected[b].Length + g) * width + j] != expected[b][g][j]) return false;
                    foreach (int h in GroupHeads(g, perHead, kvHeads))
                        if (table[HotSlot(hotTable, maxHot, b, j, blockSize) * kvHeads + h] != expected[b][g][j]) return false;
                }
            }
        return true;
    }

    /// <summary>Every listed hot row (K, V, INT8 parameters) equals the row of its position read through the block table.</summary>
    private static bool RowsMatchSources(AttentionSelection hot, KvPoolTensors gpu, KvPoolTensors cpu, Tensor blockTable, long[] hotTable, int maxHot,
        int[] lengths, int blockSize, int kvHeads, long gpuBlocks, bool perHead)
    {
        var segments = hot.Segments.cpu().data<int>().ToArray();
        var listed = hot.Positions.cpu().data<int>().ToArray();
        var table = blockTable.cpu().data<long>().ToArray();
        long width = hot.Positions.shape[2], groups = hot.Segments.shape[1], maxBlocks = blockTable.shape[1];
        for (int b = 0; b < lengths.Length; b++)
        {
            if (hotTable[b * maxHot] < 0) continue;
            for (int g = 0; g < groups; g++)
                for (int j = 0; j < segments[(b * groups + g) * 3 + 1]; j++)
                {
                    int p = listed[(b * groups + g) * width + j];
                    foreach (var (hotRow, source) in HotAndSourceRows(gpu, cpu, table[b * maxBlocks + p / blockSize], p,
                                 HotSlot(hotTable, maxHot, b, j, blockSize), GroupHeads(g, perHead, kvHeads), blockSize, gpuBlocks))
                        if (!hotRow.cpu().eq(source.cpu()).all().item<bool>()) return false;
                }
        }
        return true;
    }
}
