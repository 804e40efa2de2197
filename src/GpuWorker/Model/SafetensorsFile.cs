using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Model;

/// <summary>One .safetensors file: an 8-byte header length, a JSON header (name -> dtype, shape, offsets), raw data.</summary>
public sealed class SafetensorsFile
{
    public sealed record Entry(string Name, string DType, long[] Shape, long Begin, long End);

    public string Path { get; }
    public IReadOnlyDictionary<string, Entry> Entries { get; }
    private readonly long _dataStart;

    private SafetensorsFile(string path, Dictionary<string, Entry> entries, long dataStart)
    {
        Path = path; Entries = entries; _dataStart = dataStart;
    }

    public static SafetensorsFile Open(string path)
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
        using var doc = JsonDocument.Parse(header);
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
        return new SafetensorsFile(path, entries, 8 + headerLength);
    }

    /// <summary>Reads one tensor and returns it on <paramref name="device"/> as <paramref name="dtype"/>.</summary>
    public Tensor Load(string name, ScalarType dtype, Device device)
    {
        var entry = Entries[name];
        var bytes = new byte[entry.End - entry.Begin];
        using (var stream = File.OpenRead(Path))
        {
            stream.Seek(_dataStart + entry.Begin, SeekOrigin.Begin);
            stream.ReadExactly(bytes);
        }
        using var raw = torch.tensor(ToFloats(bytes, entry.DType), entry.Shape);
        using var shaped = raw;
        return shaped.to(dtype, device, copy: true);
    }

    /// <summary>Widens the stored values to float32 on the host (exact for F16 and BF16).</summary>
    private static float[] ToFloats(byte[] bytes, string dtype)
    {
        switch (dtype)
        {
            case "F32":
                return MemoryMarshal.Cast<byte, float>(bytes).ToArray();
            case "F16":
                var halves = MemoryMarshal.Cast<byte, Half>(bytes);
                var fromHalf = new float[halves.Length];
                for (int i = 0; i < halves.Length; i++) fromHalf[i] = (float)halves[i];
                return fromHalf;
            default: // BF16: the upper 16 bits of a float32
                var raw = MemoryMarshal.Cast<byte, ushort>(bytes);
                var widened = new uint[raw.Length];
                for (int i = 0; i < raw.Length; i++) widened[i] = (uint)raw[i] << 16;
                return MemoryMarshal.Cast<uint, float>(widened).ToArray();
        }
    }

    private static int ElementSize(string dtype, string path, string name) => dtype switch
    {
        "F32" => 4, "F16" or "BF16" => 2,
        _ => throw new NotSupportedException($"{path}: tensor '{name}' has dtype {dtype}; supported: F32, F16, BF16"),
    };

}
