using AlisaCluster.GpuWorker.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Model;

/// <summary>A model ready to serve: config, weights on the device, tokenizer, and a display name.</summary>
public sealed class LoadedModel : IDisposable
{
    private LoadedModel(string name, TransformerModel model, HfTokenizer tokenizer, Attention.LearnedSplit? split = null)
    {
        Name = name; Model = model; Tokenizer = tokenizer; Split = split;
    }

    public string Name { get; }
    public TransformerModel Model { get; }
    public HfTokenizer Tokenizer { get; }
    public ModelConfig Config => Model.Config;
    /// <summary>The SWA split `alisa calibrate` learned for this checkpoint (stored next to it), if any.</summary>
    public Attention.LearnedSplit? Split { get; }

    /// <summary>Parses a KV policy for this model ("learned" takes the model's split).</summary>
    public Attention.KvPolicy ParsePolicy(string text) => Attention.KvPolicy.Parse(text, Split);

    /// <summary>Loads a Hugging Face checkpoint folder (config.json, safetensors, tokenizer.json).</summary>
    public static LoadedModel FromCheckpoint(string folder, DeviceChoice? device = null)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"model folder not found: {folder}");
        var config = ModelConfig.Load(Path.Combine(folder, "config.json"));
        var tokenizer = HfTokenizer.Load(Path.Combine(folder, "tokenizer.json"));
        var target = device ?? DeviceChoice.Default();
        using var weights = new CheckpointWeights(folder);
        var model = TransformerModel.Create(config, weights, target.Device, target.DType);
        return new LoadedModel(Path.GetFileName(Path.TrimEndingDirectorySeparator(folder)), model, tokenizer, Attention.LearnedSplit.FromModelFolder(folder));
    }

    /// <summary>Random weights in a named real shape (benchmarks); the tokenizer is only for display.</summary>
    public static LoadedModel FromNamedShape(string shape, string tokenizerFolder, DeviceChoice? device = null, long seed = 0)
    {
        var config = NamedShapes.Get(shape);
        var tokenizer = HfTokenizer.Load(Path.Combine(tokenizerFolder, "tokenizer.json"));
        var target = device ?? DeviceChoice.Default();
        var model = TransformerModel.Create(config, new RandomWeights(seed), target.Device, target.DType);
        return new LoadedModel(shape + " (random weights)", model, tokenizer);
    }

    public void Dispose() { Model.Dispose(); Tokenizer.Dispose(); }
}

/// <summary>Where the model runs and in which precision: CUDA in bf16 when present, else CPU in fp32.</summary>
public sealed record DeviceChoice(Device Device, ScalarType DType)
{
    public static DeviceChoice Default() => Parse(null, null);

    /// <param name="device">"cpu", "cuda", "cuda:1" or null for automatic</param>
    /// <param name="dtype">"fp32", "fp16", "bf16" or null for the device's default</param>
    public static DeviceChoice Parse(string? device, string? dtype)
    {
        bool cuda = device is null ? torch.cuda.is_available() : device.StartsWith("cuda", StringComparison.OrdinalIgnoreCase);
        if (cuda && !torch.cuda.is_available()) throw new ArgumentException($"device '{device}' requested but CUDA is not available", nameof(device));
        var target = cuda ? new Device(device ?? "cuda") : CPU;
        var type = (dtype?.ToLowerInvariant()) switch
        {
            null => cuda ? ScalarType.BFloat16 : ScalarType.Float32,
            "fp32" or "float32" => ScalarType.Float32,
            "fp16" or "float16" => ScalarType.Float16,
            "bf16" or "bfloat16" => ScalarType.BFloat16,
            _ => throw new ArgumentException($"unknown dtype '{dtype}' (fp32, fp16, bf16)", nameof(dtype)),
        };
        return new DeviceChoice(target, type);
    }
}
