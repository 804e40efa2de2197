using System.Buffers.Binary;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Model;

/// <summary>One .safetensors file: an 8-byte header length, a JSON header (name -> dtype, shape, offsets), raw data.
/// Tensors are read through a memory map of the file (libtorch's from_file, copy-on-write, nothing read up front):
/// each is a view of the mapped bytes, copied once, whole, to the target device and then converted to the target
/// dtype there, so the host holds no widened copy and the data never passes through managed arrays.</summary>
public sealed class SafetensorsFile : IDisposable
{
    public sealed record Entry(string Name, string DType, long[] Shape, long Begin, long End);

    public string Path { get; }
    public IReadOnlyDictionary<string, Entry> Entries { get; }
    private readonly long _dataStart, _fileLength;
    private readonly Dictionary<ScalarType, Tensor> _maps = new(); // the whole file viewed as each stored dtype
    private readonly object _gate = new();

    private SafetensorsFile(string path, Dictionary<string, Entry> entries, long dataStart, long fileLength)
    {
        Path = path; Entries = entries; _dataStart = dataStart; _fileLength = fileLength;
    }

    /// <param name="prefetch">read the file once, sequentially, so that the page cache holds it before tensors are
    /// copied out of the map in model order (random access); shards are prefetched in parallel by their caller</param>
    public static SafetensorsFile Open(string path, bool prefetch = false)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"weights file not found: {path}", path);
        using var stream = File.OpenRead(path);
        Span<byte> lengthBytes = stackalloc byte[8];
        if (stream.Read(lengthBytes) != 8) throw new InvalidDataException($"{path}: truncated safetensors file (no header)");
        long headerLength = BinaryPrimitives.ReadInt64LittleEndian(lengthBytes);
        if (headerLength <= 0 || 8 + headerLength > stream.Length)
            throw new InvalidDataException($"{path}: bad safetensors header length {headerLength} (file is {stream.Length} bytes)");
        var header = new byte[headerLength];
        stream.ReadExactly(header);
        var entries = new Dictionary<string, Entry>();
        JsonDocument doc;
        try { doc = JsonDocument.Parse(header); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: the safetensors header is not JSON ({e.Message})", e); }
        using (doc)
        {
            long dataLength = stream.Length - 8 - headerLength;
            foreach (var property in doc.RootElement.EnumerateObject())
            {
                if (property.Name == "__metadata__") continue;
                var value = property.Value;
                var offsets = value.GetProperty("data_offsets");
                var entry = new Entry(property.Name, value.GetProperty("dtype").GetString()!,
                    value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray(),
                    offsets[0].GetInt64(), offsets[1].GetInt64());
                if (entry.End > dataLength)
                    throw new InvalidDataException($"{path}: tensor '{entry.Name}' ends at byte {entry.End} but the file holds {dataLength} data bytes (truncated file?)");
                long expected = entry.Shape.Aggregate(1L, (a, b) => a * b) * ElementSize(entry.DType, path, entry.Name);
                if (entry.End - entry.Begin != expected)
                    throw new InvalidDataException($"{path}: tensor '{entry.Name}' has {entry.End - entry.Begin} bytes, its dtype and shape need {expected}");
                entries[property.Name] = entry;
            }
        }
        if (prefetch) Prefetch(stream);
        return new SafetensorsFile(path, entries, 8 + headerLength, stream.Length);
    }

    private static void Prefetch(FileStream stream)
    {
        var buffer = new byte[16 << 20];
        stream.Seek(0, SeekOrigin.Begin);
        while (stream.Read(buffer) > 0) { }
    }

    /// <summary>Reads one tensor and returns it on <paramref name="device"/> as <paramref name="dtype"/>.</summary>
    public Tensor Load(string name, ScalarType dtype, Device device)
    {
        var entry = Entries[name];
        var stored = StoredType(entry.DType);
        int size = ElementSize(entry.DType, Path, name);
        long start = _dataStart + entry.Begin, count = (entry.End - entry.Begin) / size;
        // the safetensors writer pads the header to 8 bytes and orders tensors by alignment, so offsets are aligned
        if (start % size != 0)
            throw new NotSupportedException($"{Path}: tensor '{name}' starts at byte {start}, not a multiple of its {size}-byte elements (not written by the safetensors library?)");
        using var view = MapAs(stored).narrow(0, start / size, count).view(entry.Shape);
        // to the device first in the stored (narrow) type, then widened there: the host never holds a widened copy
        if (device.type == DeviceType.CPU) return view.to(dtype, copy: true);
        using var onDevice = view.to(device);
        return onDevice.to(dtype, copy: true);
    }

    private Tensor MapAs(ScalarType stored)
    {
        lock (_gate)
        {
            if (!_maps.TryGetValue(stored, out var map))
            {
                int size = stored == ScalarType.Float32 ? 4 : 2;
                _maps[stored] = map = torch.from_file(Path, shared: false, size: _fileLength / size, dtype: stored);
            }
            return map;
        }
    }

    private static ScalarType StoredType(string dtype) => dtype switch
    {
        "F32" => ScalarType.Float32, "F16" => ScalarType.Float16, _ => ScalarType.BFloat16,
    };

    private static int ElementSize(string dtype, string path, string name) => dtype switch
    {
        "F32" => 4, "F16" or "BF16" => 2,
        _ => throw new NotSupportedException($"{path}: tensor '{name}' has dtype {dtype}; supported: F32, F16, BF16"),
    };

    /// <summary>Unmaps the file (the loaded tensors are copies and stay valid).</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var map in _maps.Values) map.Dispose();
            _maps.Clear();
        }
    }
}
