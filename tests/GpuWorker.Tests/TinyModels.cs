using System.Text.Json;
using AlisaCluster.GpuWorker.Model;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Tests;

/// <summary>The bundled tiny checkpoints, loaded once per test run on the CPU in fp32 (as the reference dumps were made).</summary>
public sealed class TinyModels : IDisposable
{
    private readonly Dictionary<string, LoadedModel> _models = new();
    private readonly object _gate = new();

    public static readonly string[] Names = ["tiny-llama", "tiny-opt", "tiny-llama3", "tiny-qwen2", "tiny-mistral", "tiny-phi3"];

    public LoadedModel Get(string name)
    {
        lock (_gate)
        {
            if (!_models.TryGetValue(name, out var model))
                _models[name] = model = LoadedModel.FromCheckpoint(RepoPaths.Model(name), new DeviceChoice(CPU, ScalarType.Float32));
            return model;
        }
    }

    public static JsonElement Reference(string name) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(RepoPaths.Model(name), "reference-outputs.json"))).RootElement;

    public void Dispose()
    {
        foreach (var model in _models.Values) model.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class TinyModelCollection : ICollectionFixture<TinyModels>
{
    public const string Name = "tiny models";
}
