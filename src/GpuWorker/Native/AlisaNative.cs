using System.Reflection;
using System.Runtime.InteropServices;

namespace AlisaCluster.GpuWorker.Native;

/// <summary>The engine's native GPU library (<c>native/</c>, built on a machine with CUDA by <c>native/build.sh</c>):
/// CUDA graphs, CUDA events, the paged decode attention kernel and the cuDNN SDPA switch. It is linked against the
/// libtorch this process loads, so it works on TorchSharp's tensors (their handles are <c>at::Tensor*</c>).
/// Found through ALISA_NATIVE_LIB or at native/build/ above the working directory or the app; absent on CPU
/// machines (CI), where the engine keeps its eager TorchSharp path.</summary>
public static partial class AlisaNative
{
    private const string Library = "alisa_native";
    private const int AbiVersion = 7;
    private static readonly Lazy<(bool Loaded, string Detail)> State = new(Load);

    /// <summary>True when the library was found, loaded and speaks this ABI.</summary>
    public static bool IsAvailable => State.Value.Loaded;
    /// <summary>The path loaded, or why nothing was.</summary>
    public static string Detail => State.Value.Detail;

    private static (bool, string) Load()
    {
        var candidates = new List<string>();
        if (Environment.GetEnvironmentVariable("ALISA_NATIVE_LIB") is { Length: > 0 } configured) candidates.Add(configured);
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                candidates.Add(Path.Combine(dir.FullName, "native", "build", "libalisa_native.so"));
        var path = candidates.FirstOrDefault(File.Exists);
        if (path is null) return (false, "libalisa_native.so not found (set ALISA_NATIVE_LIB or run native/build.sh)");
        if (!NativeLibrary.TryLoad(path, out var handle)) return (false, $"{path} could not be loaded (is libtorch's CUDA build on LD_LIBRARY_PATH?)");
        NativeLibrary.SetDllImportResolver(typeof(AlisaNative).Assembly,
            (name, _, _) => name == Library ? handle : IntPtr.Zero);
        int version = alisa_abi_version();
        return version == AbiVersion ? (true, path) : (false, $"{path} has ABI {version}, this engine needs {AbiVersion}; rebuild it");
    }

    /// <summary>Throws with the library's message when a call failed.</summary>
    internal static void Check(int status, string what)
    {
        if (status != 0) throw new InvalidOperationException($"{what}: {Marshal.PtrToStringUTF8(alisa_last_error())}");
    }

    public static void Require()
    {
        if (!IsAvailable) throw new InvalidOperationException($"the native library is not available: {Detail}");
    }

    /// <summary>cuDNN SDPA builds an execution plan per key length (tens of ms per decode step): use the flash and
    /// memory-efficient kernels instead.</summary>
    public static void DisableCudnnSdpa() { Require(); Check(alisa_disable_cudnn_sdpa(), "disable cuDNN SDPA"); }

    [LibraryImport(Library)] internal static partial int alisa_abi_version();
    [LibraryImport(Library)] internal static partial IntPtr alisa_last_error();
    [LibraryImport(Library)] internal static partial int alisa_disable_cudnn_sdpa();
    [LibraryImport(Library)] internal static partial int alisa_graph_create(out IntPtr graph);
    [LibraryImport(Library)] internal static partial int alisa_graph_capture_begin(IntPtr graph, IntPtr sharePoolWith);
    [LibraryImport(Library)] internal static partial int alisa_graph_capture_end(IntPtr graph);
    [LibraryImport(Library)] internal static partial int alisa_graph_replay(IntPtr graph);
    [LibraryImport(Library)] internal static partial void alisa_graph_destroy(IntPtr graph);
    [LibraryImport(Library)] internal static partial int alisa_event_create(out IntPtr cudaEvent);
    [LibraryImport(Library)] internal static partial int alisa_event_record(IntPtr cudaEvent);
    [LibraryImport(Library)] internal static partial int alisa_event_elapsed_ms(IntPtr start, IntPtr end, out float milliseconds);
    [LibraryImport(Library)] internal static partial int alisa_event_synchronize(IntPtr cudaEvent);
    [LibraryImport(Library)] internal static partial void alisa_event_destroy(IntPtr cudaEvent);
    [LibraryImport(Library)] internal static partial int alisa_side_stream_begin(out IntPtr side);
    [LibraryImport(Library)] internal static partial int alisa_side_stream_end(IntPtr side, IntPtr done);
    [LibraryImport(Library)] internal static partial int alisa_stream_wait(IntPtr cudaEvent);
    [LibraryImport(Library)]
    internal static partial int alisa_page_sums_add(IntPtr keySums, IntPtr valueSums, IntPtr keyPool, IntPtr valuePool, IntPtr keyParams,
        IntPtr valueParams, IntPtr slots, IntPtr rowsLike, int blockSize);
    [LibraryImport(Library)]
    internal static partial int alisa_summary_attention(IntPtr output, IntPtr lse, IntPtr query, IntPtr keySums, IntPtr valueSums,
        IntPtr keyPool, IntPtr valuePool, IntPtr keyParams, IntPtr valueParams, IntPtr blockTable, IntPtr lengths, IntPtr segments,
        IntPtr positions, IntPtr asks, int blockSize, float scale);
    [LibraryImport(Library)]
    internal static partial int alisa_paged_decode_attention(IntPtr output, IntPtr query, IntPtr keyPool, IntPtr valuePool,
        IntPtr keyParams, IntPtr valueParams, IntPtr cpuKeyPool, IntPtr cpuValuePool, IntPtr cpuKeyParams, IntPtr cpuValueParams,
        long gpuBlocks, IntPtr blockTable, IntPtr lengths, IntPtr segments, IntPtr positions, IntPtr hotTable, IntPtr logits, IntPtr lse,
        int blockSize, float scale);
    [LibraryImport(Library)]
    internal static partial int alisa_hot_set_update(IntPtr outSegments, IntPtr outListed, IntPtr counters, IntPtr hotPositions, IntPtr hotTable,
        IntPtr keyPool, IntPtr valuePool, IntPtr keyParams, IntPtr valueParams, IntPtr cpuKeyPool, IntPtr cpuValuePool, IntPtr cpuKeyParams,
        IntPtr cpuValueParams, long gpuBlocks, IntPtr blockTable, IntPtr lengths, IntPtr segments, IntPtr listed, int blockSize);
    [LibraryImport(Library)]
    internal static partial int alisa_attention_weights(IntPtr weights, IntPtr positions, IntPtr logits, IntPtr lse, IntPtr lengths,
        IntPtr segments, IntPtr listed);
    [LibraryImport(Library)]
    internal static partial int alisa_copy_blocks(IntPtr target, IntPtr source, IntPtr targetBlocks, IntPtr sourceBlocks, int blockSize);
    [LibraryImport(Library)] internal static partial int alisa_rms_norm(IntPtr output, IntPtr sum, IntPtr x, IntPtr delta, IntPtr weight, float eps);
    [LibraryImport(Library)] internal static partial int alisa_rotary(IntPtr x, IntPtr cos, IntPtr sin);
    [LibraryImport(Library)] internal static partial int alisa_silu_and_mul(IntPtr output, IntPtr gateUp);
    [LibraryImport(Library)] internal static partial int alisa_kv_write(IntPtr keyPool, IntPtr valuePool, IntPtr key, IntPtr value, IntPtr slots);
    [LibraryImport(Library)]
    internal static partial int alisa_window_slide(IntPtr history, IntPtr sums, IntPtr readSlots, IntPtr lengths, IntPtr columns, IntPtr leaving,
        IntPtr segments, IntPtr ranking);
    [LibraryImport(Library)]
    internal static partial int alisa_window_ranking(IntPtr ranking, IntPtr sums, IntPtr readSlots, IntPtr segments);
    [LibraryImport(Library)] internal static partial int alisa_select_top(IntPtr listed, IntPtr ranking, IntPtr segments);
    [LibraryImport(Library)]
    internal static partial int alisa_window_slide_select(IntPtr history, IntPtr sums, IntPtr readSlots, IntPtr lengths, IntPtr columns,
        IntPtr leaving, IntPtr segments, IntPtr ranking, IntPtr listed);
    [LibraryImport(Library)]
    internal static partial int alisa_window_record(IntPtr history, IntPtr sums, IntPtr readSlots, IntPtr lengths, IntPtr columns,
        IntPtr logits, IntPtr lse, IntPtr segments, IntPtr listed, int kvHeads);
    [LibraryImport(Library)]
    internal static partial int alisa_kv_write_int8(IntPtr keyCodes, IntPtr valueCodes, IntPtr keyParams, IntPtr valueParams, IntPtr key,
        IntPtr value, IntPtr slots);
}
