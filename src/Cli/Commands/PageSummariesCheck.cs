using AlisaCluster.GpuWorker.Kv;
using AlisaCluster.GpuWorker.Native;
using static TorchSharp.torch;

namespace AlisaCluster.Cli.Commands;

/// <summary>native-check's cases for the page summaries' kernels (native/src/page_summaries.cuh) against CPU references
/// on one random pool (fp16 rows, or their INT8 quantisation read back as the store does), ragged sequences in shuffled
/// blocks. page_sums_add: sums holding every row but each sequence's last, plus that last token, must be the sums of all
/// rows below the lengths (a token at offset 0 starts its block afresh: such blocks begin with garbage), other blocks
/// untouched. summary_attention, after the attention kernel over a selection (per KV head or shared; pages listed wholly,
/// partly, not at all): each page's left-out tokens merged into the kernel's out and lse as one entry (mean key and value,
/// logit + log(count)), computed in float64 from the kernel's own out and lse; a row that does not ask keeps them.</summary>
public static class PageSummariesCheck
{
    private const int BlockSize = 16;

    /// <summary>The pool's rows as read back [slots * KvH * D] and where a sequence's position lives.</summary>
    private sealed record Host(float[] Keys, float[] Values, long[] Table, int MaxBlocks, int KvHeads, int D)
    {
        public long Row(int b, int p, int h) => (Table[b * MaxBlocks + p / BlockSize] * BlockSize + p % BlockSize) * KvHeads + h;
        public long Block(int b, int page) => Table[b * MaxBlocks + page];
    }

    public static IEnumerable<NativeCheckCommand.FusedCase> Cases()
    {
        var device = new Device("cuda");
        foreach (var (heads, kvHeads, d) in new[] { (8, 2, 128), (8, 4, 64) })
            foreach (bool int8 in new[] { false, true })
            {
                using var scope = NewDisposeScope();
                var random = new Random(int8 ? 12 : 11);
                int[] lengths = [1, 17, 40, 150, 2200]; // 1 and 17: the new token opens a block; 2200: over 128 pages (a warp's second chunk)
                int batch = lengths.Length, maxBlocks = lengths.Max() / BlockSize + 1, blocks = lengths.Sum(n => n / BlockSize + 1) + 4; // scratch 0, 3 spare
                var order = new Queue<int>(Enumerable.Range(1, blocks - 1).OrderBy(_ => random.Next()));
                var table = new long[batch * maxBlocks];
                for (int b = 0; b < batch; b++)
                    for (int i = 0; i <= lengths[b] / BlockSize; i++) table[b * maxBlocks + i] = order.Dequeue();
                var keys = randn([blocks * BlockSize, kvHeads, d], ScalarType.Float16, device);
                var values = randn(keys.shape, ScalarType.Float16, device);
                var pool = new KvPoolTensors(keys, values);
                if (int8)
                {
                    var (kc, kp) = Int8KvLayerStore.Quantize(keys);
                    var (vc, vp) = Int8KvLayerStore.Quantize(values);
                    pool = new KvPoolTensors(kc, vc, kp, vp);
                }
                var host = new Host(ReadBack(pool.Keys, pool.KeyParams), ReadBack(pool.Values, pool.ValueParams), table, maxBlocks, kvHeads, d);
                string name = int8 ? "Float16 int8" : "Float16 native", shape = $"rows {batch}, heads {heads}/{kvHeads}, dim {d}, lengths {string.Join("/", lengths)}";

                // page_sums_add: every row but the last already summed; blocks holding none of them start as garbage
                var garbage = Enumerable.Range(0, blocks * kvHeads * d).Select(_ => (float)(random.NextDouble() * 8 - 4)).ToArray();
                var earlier = lengths.Select(n => n - 1).ToArray();
                var (keySums, valueSums) = (Sums(host, host.Keys, garbage, lengths), Sums(host, host.Values, garbage, lengths));
                long[] sumsShape = [blocks, kvHeads, d];
                var sums = (Keys: tensor(Sums(host, host.Keys, garbage, earlier), sumsShape, device: device),
                    Values: tensor(Sums(host, host.Values, garbage, earlier), sumsShape, device: device));
                var slots = tensor(lengths.Select((n, b) => host.Block(b, (n - 1) / BlockSize) * BlockSize + (n - 1) % BlockSize).ToArray(), device: device);
                PageSummariesKernel.Add(sums, pool, slots, keys, BlockSize);
                double sumsError = Math.Max(Relative(Floats(sums.Keys), keySums), Relative(Floats(sums.Values), valueSums));
                yield return new NativeCheckCommand.FusedCase("page_sums_add", name, $"{shape}, each row's last token", sumsError, 1e-4, sumsError <= 1e-4);

                // summary_attention over the complete sums, after the attention kernel
                var fullSums = (Keys: tensor(keySums, sumsShape, device: device), Values: tensor(valueSums, sumsShape, device: device));
                var blockTable = tensor(table, [batch, maxBlocks], device: device);
                var lengthTensor = tensor(lengths.Select(n => (long)n).ToArray(), device: device);
                byte[] asks = [1, 1, 0, 1, 1];
                float scale = (float)(1 / Math.Sqrt(d));
                foreach (bool perHead in new[] { true, false })
                {
                    var (selection, selected) = Selection(random, lengths, perHead ? kvHeads : 1, device);
                    var query = randn([batch, heads, d], ScalarType.Float16, device);
                    var output = empty([batch, heads, d], ScalarType.Float16, device);
                    var lse = empty([batch, heads], ScalarType.Float32, device);
                    PagedDecodeAttentionKernel.Run(output, query, pool, blockTable, lengthTensor, BlockSize, scale, selection: selection, lse: lse);
                    var (outBefore, lseBefore) = (Floats(output), Floats(lse));
                    PageSummariesKernel.Attend(output, lse, query, fullSums, pool, blockTable, lengthTensor, selection, tensor(asks, device: device), BlockSize, scale);
                    var (expectedOut, expectedLse) = Merged(host, keySums, valueSums, Floats(query), outBefore, lseBefore, lengths, selected, asks, heads, scale);
                    var (actualOut, actualLse) = (Floats(output), Floats(lse));
                    double outError = Worst(actualOut.Select((x, i) => Math.Abs(x - expectedOut[i])));
                    double lseError = Worst(actualLse.Select((x, i) => Math.Abs(x - expectedLse[i]) / Math.Max(1, Math.Abs(expectedLse[i]))));
                    int row = Array.IndexOf(asks, (byte)0);
                    bool kept = actualOut.AsSpan(row * heads * d, heads * d).SequenceEqual(outBefore.AsSpan(row * heads * d, heads * d))
                                && actualLse.AsSpan(row * heads, heads).SequenceEqual(lseBefore.AsSpan(row * heads, heads));
                    string what = $"{shape}, {(perHead ? "per-head" : "shared")} selection, lse error {lseError:E1} (1e-4), row {row} not asking kept {kept}";
                    yield return new NativeCheckCommand.FusedCase("summary_attention", name, what, outError, 4e-3, outError <= 4e-3 && lseError <= 1e-4 && kept);
                }
            }
    }

    private static float[] Floats(Tensor t) => t.to(ScalarType.Float32, CPU).contiguous().data<float>().ToArray();

    /// <summary>Rows as kv_rows.cuh's stored_dims reads them: fp16 as they are; INT8 as fp32 code * scale, then + min
    /// (two roundings, no contraction), rounded to fp16 (the rows' dtype).</summary>
    private static float[] ReadBack(Tensor rows, Tensor? parameters)
    {
        if (parameters is null) return Floats(rows);
        var codes = rows.cpu().contiguous().data<byte>().ToArray();
        var p = Floats(parameters);
        long d = rows.shape[2];
        var x = new float[codes.Length];
        for (long i = 0; i < codes.Length; i++)
        {
            float product = codes[i] * p[i / d * 2];
            float sum = product + p[i / d * 2 + 1];
            x[i] = (float)(Half)sum;
        }
        return x;
    }

    /// <summary>Sums [blocks, KvH, D] of the rows of positions below limits[b], per block of their sequences; a block that
    /// holds none of them keeps <paramref name="start"/>'s values (as do blocks of no sequence).</summary>
    private static float[] Sums(Host host, float[] rows, float[] start, int[] limits)
    {
        int width = host.KvHeads * host.D;
        var sums = (float[])start.Clone();
        for (int b = 0; b < limits.Length; b++)
            for (int page = 0; page * BlockSize < limits[b]; page++)
            {
                var total = new double[width];
                for (int p = page * BlockSize; p < Math.Min(limits[b], (page + 1) * BlockSize); p++)
                    for (int h = 0; h < host.KvHeads; h++)
                        for (int i = 0; i < host.D; i++) total[h * host.D + i] += rows[host.Row(b, p, h) * host.D + i];
                for (int j = 0; j < width; j++) sums[host.Block(b, page) * width + j] = (float)total[j];
            }
        return sums;
    }

    /// <summary>The largest difference relative to the largest expected magnitude (at least 1).</summary>
    private static double Relative(float[] actual, float[] expected) =>
        Worst(actual.Select((x, i) => Math.Abs((double)x - expected[i]))) / Math.Max(1, expected.Max(x => Math.Abs(x)));

    /// <summary>The largest error, NaN counting as the largest finite one (Max passes over NaN; JSON has no infinity).</summary>
    private static double Worst(IEnumerable<double> errors) => errors.Select(e => double.IsNaN(e) ? double.MaxValue : e).Max();

    /// <summary>Per (sequence, group): up to 3 sinks, a recent range of up to an eighth of the length, and between them
    /// each page's middle positions listed wholly, not at all or a third of them, in a shuffled order; with, per group,
    /// which positions the selection attends.</summary>
    private static (AttentionSelection Selection, bool[][][] Selected) Selection(Random random, int[] lengths, int groups, Device device)
    {
        int batch = lengths.Length;
        var segments = new int[batch * groups * 3];
        var lists = new int[batch * groups][];
        var selected = new bool[batch][][];
        for (int b = 0; b < batch; b++)
        {
            selected[b] = new bool[groups][];
            for (int g = 0; g < groups; g++)
            {
                int n = lengths[b], recent = Math.Max(0, n - 1 - random.Next(Math.Max(1, n / 8))), sinks = Math.Min(random.Next(4), recent);
                var mode = Enumerable.Range(0, n / BlockSize + 1).Select(_ => random.Next(4)).ToArray();
                var listed = Enumerable.Range(sinks, recent - sinks).Where(p => mode[p / BlockSize] == 0 || (mode[p / BlockSize] >= 2 && random.Next(3) == 0))
                    .OrderBy(_ => random.Next()).ToArray();
                lists[b * groups + g] = listed;
                (segments[(b * groups + g) * 3], segments[(b * groups + g) * 3 + 1], segments[(b * groups + g) * 3 + 2]) = (sinks, listed.Length, recent);
                selected[b][g] = Enumerable.Range(0, n).Select(p => p < sinks || p >= recent).ToArray();
                foreach (int p in listed) selected[b][g][p] = true;
            }
        }
        int width = Math.Max(1, lists.Max(l => l.Length));
        var positions = new int[batch * groups * width];
        for (int i = 0; i < lists.Length; i++) lists[i].CopyTo(positions, i * width);
        return (new AttentionSelection(tensor(segments, [batch, groups, 3], device: device), tensor(positions, [batch, groups, width], device: device)), selected);
    }

    /// <summary>The reference of summary_attention in float64: per asking sequence b and KV head, each page below the
    /// length with count = its positions less those the head's group attends > 0 gives one entry (rest = the page's sums
    /// less its selected rows; key rest_k / count, value rest_v / count, logit scale * q . key + log(count) per query
    /// head), merged with the kernel's softmax: lse' = log(e^lse + sum e^logit), out' = (out e^lse + sum e^logit value) / e^lse'.</summary>
    private static (double[] Out, double[] Lse) Merged(Host host, float[] keySums, float[] valueSums, float[] query, float[] outBefore, float[] lseBefore,
        int[] lengths, bool[][][] selected, byte[] asks, int heads, float scale)
    {
        int kvHeads = host.KvHeads, d = host.D, g = heads / kvHeads;
        var output = outBefore.Select(x => (double)x).ToArray();
        var lse = lseBefore.Select(x => (double)x).ToArray();
        for (int b = 0; b < lengths.Length; b++)
        {
            if (asks[b] == 0) continue;
            for (int h = 0; h < kvHeads; h++)
            {
                var chosen = selected[b][selected[b].Length > 1 ? h : 0];
                var entries = new List<(double[] Logits, double[] Value)>();
                for (int page = 0; page * BlockSize < lengths[b]; page++)
                {
                    var taken = Enumerable.Range(page * BlockSize, Math.Min(BlockSize, lengths[b] - page * BlockSize)).ToLookup(p => chosen[p]);
                    int count = taken[false].Count();
                    if (count == 0) continue;
                    long sums = (host.Block(b, page) * kvHeads + h) * d;
                    double Mean(float[] pageSums, float[] rows, int i) => (pageSums[sums + i] - taken[true].Sum(p => (double)rows[host.Row(b, p, h) * d + i])) / count;
                    var key = Enumerable.Range(0, d).Select(i => Mean(keySums, host.Keys, i)).ToArray();
                    var value = Enumerable.Range(0, d).Select(i => Mean(valueSums, host.Values, i)).ToArray();
                    var logits = Enumerable.Range(0, g).Select(j => scale * key.Select((k, i) => k * query[((long)b * heads + h * g + j) * d + i]).Sum() + Math.Log(count));
                    entries.Add((logits.ToArray(), value));
                }
                if (entries.Count == 0) continue; // every position attended: the kernel's output stands
                for (int j = 0; j < g; j++)
                {
                    long head = (long)b * heads + h * g + j;
                    double top = Math.Max(lse[head], entries.Max(e => e.Logits[j])), kernel = Math.Exp(lse[head] - top);
                    double denominator = kernel + entries.Sum(e => Math.Exp(e.Logits[j] - top));
                    for (int i = 0; i < d; i++)
                        output[head * d + i] = (output[head * d + i] * kernel + entries.Sum(e => Math.Exp(e.Logits[j] - top) * e.Value[i])) / denominator;
                    lse[head] = top + Math.Log(denominator);
                }
            }
        }
        return (output, lse);
    }
}
