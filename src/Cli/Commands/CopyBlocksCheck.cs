using AlisaCluster.GpuWorker;
using AlisaCluster.GpuWorker.Kv;
using static TorchSharp.torch;

namespace AlisaCluster.Cli.Commands;

/// <summary>native-check's case for the offload copy (native/src/kv_copy_blocks.cu): random blocks of GPU pool
/// tensors (fp16 rows, INT8 codes, INT8 row parameters) moved into shuffled blocks of a page-locked CPU tier must equal
/// the source blocks byte for byte, and the blocks not written must keep their contents.</summary>
public static class CopyBlocksCheck
{
    public static IEnumerable<NativeCheckCommand.FusedCase> Cases()
    {
        var device = new Device("cuda");
        foreach (var (name, dtype, rowShape) in new[] { ("rows", ScalarType.Float16, new long[] { 32, 128 }), ("codes", ScalarType.Byte, new long[] { 32, 128 }),
                     ("parameters", ScalarType.Float16, new long[] { 32, 2 }), ("tiny rows", ScalarType.Float32, new long[] { 2, 1 }) })
        {
            using var scope = NewDisposeScope();
            const int blockSize = 16, gpuBlocks = 40, cpuBlocks = 30;
            var random = new Random(7);
            var source = (dtype == ScalarType.Byte ? randint(0, 256, [gpuBlocks * blockSize, .. rowShape], ScalarType.Byte) : randn([gpuBlocks * blockSize, .. rowShape], dtype)).to(device);
            var target = full([cpuBlocks * blockSize, .. rowShape], Scalars.Of(3L), dtype).pin_memory();
            var before = target.clone();
            var from = Enumerable.Range(0, gpuBlocks).OrderBy(_ => random.Next()).Take(12).Select(b => (long)b).ToArray();
            var into = Enumerable.Range(0, cpuBlocks).OrderBy(_ => random.Next()).Take(12).Select(b => (long)b).ToArray();
            using (var move = new BlockMove(from, into, blockSize)) PoolTensor.CopyBlocks(source, target, move);
            cuda.synchronize();
            var host = source.cpu();
            bool moved = from.Zip(into).All(p => target.narrow(0, p.Second * blockSize, blockSize).eq(host.narrow(0, p.First * blockSize, blockSize)).all().item<bool>());
            bool kept = Enumerable.Range(0, cpuBlocks).Where(b => !into.Contains(b))
                .All(b => target.narrow(0, b * blockSize, blockSize).eq(before.narrow(0, b * blockSize, blockSize)).all().item<bool>());
            yield return new NativeCheckCommand.FusedCase("copy_blocks", dtype.ToString(), $"{name} [{string.Join(", ", rowShape)}], 12 of {gpuBlocks} blocks to the CPU tier",
                moved && kept ? 0 : 1, 0, moved && kept);
        }
    }
}
