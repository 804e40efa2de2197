using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Model;

/// <summary>Where a model's weights come from: a checkpoint folder (one or sharded safetensors) or random numbers.</summary>
public abstract class WeightSource
{
    /// <summary>Returns the tensor <paramref name="name"/> with exactly <paramref name="shape"/>, on the device, in the dtype.</summary>
    public abstract Tensor Load(string name, long[] shape, ScalarType dtype, Device device);

    public abstract bool Contains(string name);
}

public sealed class CheckpointWeights : WeightSource
{
    private readonly Dictionary<string, SafetensorsFile> _fileByTensor = new();
    private readonly string _folder;

    public CheckpointWeights(string folder)
    {
        _folder = folder;
        var single = Path.Combine(folder, "model.safetensors");
        var index = Path.Combine(folder, "model.safetensors.index.json");
        IEnumerable<string> files;
        if (File.Exists(single)) files = [single];
        else if (File.Exists(index)) files = ShardsOf(index);
        else throw new FileNotFoundException($"{folder}: neither model.safetensors nor model.safetensors.index.json exists", single);
        foreach (var file in files)
        {
            var opened = SafetensorsFile.Open(file);
            foreach (var name in opened.Entries.Keys) _fileByTensor[name] = opened;
        }
    }

    private static IEnumerable<string> ShardsOf(string indexPath)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(indexPath));
        if (!doc.RootElement.TryGetProperty("weight_map", out var map))
            throw new InvalidDataException($"{indexPath}: no 'weight_map'");
        var folder = Path.GetDirectoryName(indexPath)!;
        return map.EnumerateObject().Select(p => Path.Combine(folder, p.Value.GetString()!)).Distinct().ToList();
    }

    public override bool Contains(string name) => _fileByTensor.ContainsKey(name);

    public override Tensor Load(string name, long[] shape, ScalarType dtype, Device device)
    {
        if (!_fileByTensor.TryGetValue(name, out var file))
            throw new InvalidDataException($"{_folder}: tensor '{name}' is missing from the checkpoint");
        var actual = file.Entries[name].Shape;
        if (!actual.SequenceEqual(shape))
            throw new InvalidDataException($"{file.Path}: tensor '{name}' has shape [{string.Join(", ", actual)}], config.json implies [{string.Join(", ", shape)}]");
        return file.Load(name, dtype, device);
    }
}

/// <summary>Random weights of the right shapes, drawn on the target device, scaled so activations stay finite
/// (throughput benchmarks only: the numbers they produce mean nothing).</summary>
public sealed class RandomWeights : WeightSource
{
    public RandomWeights(long seed) => torch.random.manual_seed(seed);

    public override bool Contains(string name) => true;

    public override Tensor Load(string name, long[] shape, ScalarType dtype, Device device)
    {
        if (name.EndsWith("bias")) return zeros(shape, dtype, device);
        if (name.Contains("norm")) return ones(shape, dtype, device);
        return randn(shape, dtype, device).mul_(0.02); // in place: the returned tensor is the one drawn
    }
}
