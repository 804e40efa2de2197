using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Model;

/// <summary>Where a model's weights come from: a checkpoint folder (one or sharded safetensors) or random numbers.</summary>
public abstract class WeightSource
{
    /// <summary>Returns the tensor <paramref name="name"/> with exactly <paramref name="shape"/>, on the device, in the dtype.</summary>
    public abstract Tensor Load(string name, long[] shape, ScalarType dtype, Device device);

    /// <summary>Whether the source stores <paramref name="name"/> (random weights store nothing: they draw on Load).</summary>
    public abstract bool Contains(string name);

    /// <summary>Throws naming the stored tensors that no Load asked for (a checkpoint of another shape or family).</summary>
    public virtual void EnsureAllUsed() { }
}

public sealed class CheckpointWeights : WeightSource, IDisposable
{
    private readonly Dictionary<string, SafetensorsFile> _fileByTensor = new();
    private readonly HashSet<string> _used = [];
    private readonly string _folder;

    public CheckpointWeights(string folder)
    {
        _folder = folder;
        var single = Path.Combine(folder, "model.safetensors");
        var index = Path.Combine(folder, "model.safetensors.index.json");
        IReadOnlyList<string> files;
        if (File.Exists(single)) files = [single];
        else if (File.Exists(index)) files = ShardsOf(index);
        else throw new FileNotFoundException($"{folder}: neither model.safetensors nor model.safetensors.index.json exists", single);
        // shards open (header, memory map) and warm the page cache in parallel: loading then copies from memory
        var opened = new SafetensorsFile[files.Count];
        try { Parallel.For(0, files.Count, i => opened[i] = SafetensorsFile.Open(files[i], prefetch: true)); }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            foreach (var file in opened) file?.Dispose();
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerExceptions[0]); // the first shard's own error
            throw;
        }
        foreach (var file in opened)
            foreach (var name in file.Entries.Keys)
                if (!_fileByTensor.TryAdd(name, file))
                    throw new InvalidDataException($"{folder}: tensor '{name}' is stored twice ({_fileByTensor[name].Path} and {file.Path})");
        _files = opened;
    }

    private readonly SafetensorsFile[] _files;

    private static List<string> ShardsOf(string indexPath)
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
        _used.Add(name);
        return file.Load(name, dtype, device);
    }

    public override void EnsureAllUsed()
    {
        // rotary inverse frequencies are derived from config.json; older transformers saved them, and ignores them on load
        var unused = _fileByTensor.Keys.Where(n => !_used.Contains(n) && !n.EndsWith(".rotary_emb.inv_freq")).Order().ToList();
        if (unused.Count > 0)
            throw new InvalidDataException($"{_folder}: {unused.Count} tensor(s) of the checkpoint are not used by the model config.json " +
                $"describes, e.g. {string.Join(", ", unused.Take(5).Select(n => $"'{n}'"))}: a field of config.json (bias, tied embeddings, " +
                "architecture) does not match the weights");
    }

    public void Dispose() { foreach (var file in _files) file.Dispose(); }
}

/// <summary>Random weights of the right shapes, drawn on the target device, scaled so activations stay finite
/// (throughput benchmarks only: the numbers they produce mean nothing).</summary>
public sealed class RandomWeights : WeightSource
{
    public RandomWeights(long seed) => torch.random.manual_seed(seed);

    public override bool Contains(string name) => false;

    public override Tensor Load(string name, long[] shape, ScalarType dtype, Device device)
    {
        if (name.EndsWith("bias")) return zeros(shape, dtype, device);
        if (name.Contains("norm")) return ones(shape, dtype, device);
        return randn(shape, dtype, device).mul_(Scalars.Of(0.02)); // in place: the returned tensor is the one drawn
    }
}
