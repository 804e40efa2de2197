using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using AlisaCluster.GpuWorker.Diagnostics;
using AlisaCluster.GpuWorker.Model;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Tests.Model;

/// <summary>Checkpoint folders other than the bundled single-file ones: sharded weights, and every way a folder can be broken.</summary>
[Collection(TinyModelCollection.Name)]
public sealed class CheckpointLoadingTests(TinyModels models) : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("alisa-ckpt-").FullName;
    private static readonly DeviceChoice Cpu = new(CPU, ScalarType.Float32);

    private static readonly string Source = RepoPaths.Model("tiny-llama");

    private void CopyConfigAndTokenizer(Func<JsonObject, JsonObject>? editConfig = null)
    {
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(Source, "config.json")))!.AsObject();
        File.WriteAllText(Path.Combine(_folder, "config.json"), (editConfig?.Invoke(config) ?? config).ToJsonString());
        File.Copy(Path.Combine(Source, "tokenizer.json"), Path.Combine(_folder, "tokenizer.json"));
    }

    /// <summary>Rewrites the bundled safetensors as shards of the given tensor names, plus model.safetensors.index.json.</summary>
    private void WriteShards(int shardCount)
    {
        var bytes = File.ReadAllBytes(Path.Combine(Source, "model.safetensors"));
        long headerLength = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        using var header = JsonDocument.Parse(bytes.AsMemory(8, (int)headerLength));
        var tensors = header.RootElement.EnumerateObject().Where(p => p.Name != "__metadata__").ToList();
        var weightMap = new JsonObject();
        for (int shard = 0; shard < shardCount; shard++)
        {
            var name = $"model-{shard + 1:00000}-of-{shardCount:00000}.safetensors";
            var mine = tensors.Where((_, i) => i % shardCount == shard).ToList();
            var shardHeader = new JsonObject();
            using var data = new MemoryStream();
            foreach (var tensor in mine)
            {
                var offsets = tensor.Value.GetProperty("data_offsets");
                long begin = offsets[0].GetInt64(), end = offsets[1].GetInt64();
                var entry = JsonNode.Parse(tensor.Value.GetRawText())!.AsObject();
                entry["data_offsets"] = new JsonArray(data.Length, data.Length + end - begin);
                data.Write(bytes, (int)(8 + headerLength + begin), (int)(end - begin));
                shardHeader[tensor.Name] = entry;
                weightMap[tensor.Name] = name;
            }
            var headerBytes = Encoding.UTF8.GetBytes(shardHeader.ToJsonString());
            using var file = File.Create(Path.Combine(_folder, name));
            var length = new byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(length, headerBytes.Length);
            file.Write(length);
            file.Write(headerBytes);
            data.WriteTo(file);
        }
        File.WriteAllText(Path.Combine(_folder, "model.safetensors.index.json"), new JsonObject { ["weight_map"] = weightMap }.ToJsonString());
    }

    [Fact]
    public void ShardedCheckpointGivesTheSameLogitsAsTheSingleFile()
    {
        CopyConfigAndTokenizer();
        WriteShards(3);
        using var sharded = LoadedModel.FromCheckpoint(_folder, Cpu);
        int[] ids = [1, 745, 335, 562, 291, 711];
        var expected = ReferenceConformance.FullLogits(models.Get("tiny-llama").Model, ids);
        var actual = ReferenceConformance.FullLogits(sharded.Model, ids);
        Assert.Equal(expected.Cast<float>(), actual.Cast<float>());
    }

    [Fact]
    public void MissingWeightsNameTheFolder()
    {
        CopyConfigAndTokenizer();
        var error = Assert.Throws<FileNotFoundException>(() => LoadedModel.FromCheckpoint(_folder, Cpu));
        Assert.Contains("model.safetensors", error.Message);
    }

    [Fact]
    public void TruncatedWeightsNameTheFileAndTensor()
    {
        CopyConfigAndTokenizer();
        var bytes = File.ReadAllBytes(Path.Combine(Source, "model.safetensors"));
        File.WriteAllBytes(Path.Combine(_folder, "model.safetensors"), bytes[..(bytes.Length - 1000)]);
        var error = Assert.Throws<InvalidDataException>(() => LoadedModel.FromCheckpoint(_folder, Cpu));
        Assert.Contains("model.safetensors", error.Message);
        Assert.Contains("truncated", error.Message);
    }

    [Fact]
    public void ShapeMismatchNamesTheTensor()
    {
        CopyConfigAndTokenizer(c => { c["intermediate_size"] = 800; return c; });
        File.Copy(Path.Combine(Source, "model.safetensors"), Path.Combine(_folder, "model.safetensors"));
        var error = Assert.Throws<InvalidDataException>(() => LoadedModel.FromCheckpoint(_folder, Cpu));
        Assert.Contains("mlp.gate_proj.weight", error.Message);
    }

    [Theory]
    [InlineData("gpt_neox", "model_type")]
    [InlineData("llama3-scaling", "rope")]
    public void UnsupportedConfigurationsAreClearErrors(string variant, string mentioned)
    {
        CopyConfigAndTokenizer(c =>
        {
            if (variant == "gpt_neox") c["model_type"] = "gpt_neox";
            else c["rope_scaling"] = new JsonObject { ["rope_type"] = "llama3", ["factor"] = 8.0 };
            if (variant != "gpt_neox") c.Remove("rope_parameters");
            return c;
        });
        var error = Assert.Throws<NotSupportedException>(() => LoadedModel.FromCheckpoint(_folder, Cpu));
        Assert.Contains(mentioned, error.Message);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
