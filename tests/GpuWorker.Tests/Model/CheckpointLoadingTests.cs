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
            headerBytes = [.. headerBytes, .. Enumerable.Repeat((byte)' ', (8 - headerBytes.Length % 8) % 8)]; // as the safetensors writer pads
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
    [InlineData("model_type", "gpt_neox", "model_type 'gpt_neox'")]
    [InlineData("qk_norm", true, "'qk_norm'")]
    [InlineData("final_logit_softcapping", 30.0, "'final_logit_softcapping'")]
    [InlineData("sliding_window", 16, "sliding_window is not a Llama field")]
    [InlineData("mlp_bias", true, "mlp_bias")]
    [InlineData("hidden_act", "gelu", "hidden_act 'gelu'")]
    [InlineData("partial_rotary_factor", 0.5, "partial_rotary_factor")]
    public void FieldsThatChangeTheMathAreRefusedByName(string field, object value, string mentioned)
    {
        CopyConfigAndTokenizer(c => { c[field] = JsonValue.Create(value); return c; });
        File.Copy(Path.Combine(Source, "model.safetensors"), Path.Combine(_folder, "model.safetensors"));
        var error = Assert.Throws<NotSupportedException>(() => LoadedModel.FromCheckpoint(_folder, Cpu));
        Assert.Contains(mentioned, error.Message);
    }

    [Fact]
    public void RopeScalingWithoutItsParametersIsAClearError()
    {
        CopyConfigAndTokenizer(c => { c["rope_parameters"] = new JsonObject { ["rope_type"] = "llama3", ["factor"] = 8.0 }; return c; });
        var error = Assert.Throws<InvalidDataException>(() => LoadedModel.FromCheckpoint(_folder, Cpu));
        Assert.Contains("original_max_position_embeddings", error.Message);
    }

    /// <summary>The case issue 11 found loading silently: attention_bias true with bias tensors of 5.0. The biases are now
    /// used (the logits move), and a config that asks for biases the checkpoint lacks is an error naming the tensor.</summary>
    [Fact]
    public void AttentionBiasIsHonoured_AndMissingBiasTensorsAreNamed()
    {
        CopyConfigAndTokenizer(c => { c["attention_bias"] = true; return c; });
        File.Copy(Path.Combine(Source, "model.safetensors"), Path.Combine(_folder, "model.safetensors"));
        var missing = Assert.Throws<InvalidDataException>(() => LoadedModel.FromCheckpoint(_folder, Cpu));
        Assert.Contains("model.layers.0.self_attn.q_proj.bias", missing.Message);

        var config = ModelConfig.Load(Path.Combine(Source, "config.json"));
        var biases = Enumerable.Range(0, config.NumLayers).SelectMany(i => new[]
        {
            ($"model.layers.{i}.self_attn.q_proj.bias", (long)config.NumHeads * config.HeadDim, 5f),
            ($"model.layers.{i}.self_attn.k_proj.bias", (long)config.NumKvHeads * config.HeadDim, 0f),
            ($"model.layers.{i}.self_attn.v_proj.bias", (long)config.NumKvHeads * config.HeadDim, 0f),
            ($"model.layers.{i}.self_attn.o_proj.bias", (long)config.HiddenSize, 0f),
        });
        RewriteWithExtraTensors(biases);
        using var biased = LoadedModel.FromCheckpoint(_folder, Cpu);
        int[] ids = [1, 745, 335, 562, 291, 711];
        var plain = ReferenceConformance.FullLogits(models.Get("tiny-llama").Model, ids);
        var moved = ReferenceConformance.FullLogits(biased.Model, ids);
        Assert.True(plain.Cast<float>().Zip(moved.Cast<float>()).Max(p => Math.Abs(p.First - p.Second)) > 0.1);
    }

    [Fact]
    public void ATensorTheConfigDoesNotUseIsNamed()
    {
        CopyConfigAndTokenizer();
        RewriteWithExtraTensors([("model.layers.0.self_attn.q_norm.weight", 64, 1f)]);
        var error = Assert.Throws<InvalidDataException>(() => LoadedModel.FromCheckpoint(_folder, Cpu));
        Assert.Contains("'model.layers.0.self_attn.q_norm.weight'", error.Message);
        Assert.Contains("not used", error.Message);
    }

    [Fact]
    public void TiedEmbeddingsWithADifferentStoredLmHeadAreRefused()
    {
        CopyConfigAndTokenizer(c => { c["tie_word_embeddings"] = true; return c; });
        File.Copy(Path.Combine(Source, "model.safetensors"), Path.Combine(_folder, "model.safetensors"));
        var error = Assert.Throws<InvalidDataException>(() => LoadedModel.FromCheckpoint(_folder, Cpu));
        Assert.Contains("lm_head.weight", error.Message);
        Assert.Contains("tie_word_embeddings", error.Message);
    }

    [Fact]
    public void EosIdsComeFromConfigAndGenerationConfig_AndSamplingDefaultsFromGenerationConfig()
    {
        var config = ModelConfig.Load(Path.Combine(RepoPaths.Model("tiny-llama3"), "config.json"));
        Assert.Equal(1996, config.EosTokenId);
        Assert.Equal([1996, 1997], config.EosTokenIds);
        Assert.Equal(new GenerationDefaults(0.6, 0.9, null, null), config.Generation);
        Assert.Equal(GenerationDefaults.None, ModelConfig.Load(Path.Combine(Source, "config.json")).Generation);
    }

    [Fact]
    public async Task GenerationStopsAtAnEosIdThatOnlyGenerationConfigNames()
    {
        // as Llama-3-Instruct's <|eot_id|>: an id in generation_config.json's eos_token_id but not in config.json's
        var source = RepoPaths.Model("tiny-llama3");
        foreach (var file in Directory.GetFiles(source)) File.Copy(file, Path.Combine(_folder, Path.GetFileName(file)));
        // a prompt whose greedy continuation brings a new token after the first (random tiny models repeat a lot)
        var (ids, greedy, at) = TinyModels.Reference("tiny-llama3").GetProperty("public").EnumerateArray()
            .Select(p => (Ids: p.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                Greedy: p.GetProperty("greedy_40_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray()))
            .Select(p => (p.Ids, p.Greedy, At: Enumerable.Range(1, p.Greedy.Length - 1).FirstOrDefault(k => !p.Greedy[..k].Contains(p.Greedy[k]))))
            .First(p => p.At > 0);
        int stop = greedy[at];
        var generation = JsonNode.Parse(File.ReadAllText(Path.Combine(source, "generation_config.json")))!.AsObject();
        generation["eos_token_id"] = new JsonArray(1996, stop);
        File.WriteAllText(Path.Combine(_folder, "generation_config.json"), generation.ToJsonString());
        using var model = LoadedModel.FromCheckpoint(_folder, Cpu);
        Assert.Equal(1996, model.Config.EosTokenId);
        await using var engine = new GpuWorker.Engine.InferenceEngine(model, new GpuWorker.Engine.EngineOptions());
        var events = await engine.GenerateAsync(new GpuWorker.Engine.GenerationRequest("a", ids, GpuWorker.Engine.SamplingParams.Greedy(at + 8))).ToListAsync();
        Assert.Equal(greedy[..(at + 1)], events.Select(e => e.TokenId));
        Assert.Equal(GpuWorker.Engine.FinishReason.Stop, events[^1].Finish);
    }

    /// <summary>Rewrites the bundled single-file checkpoint into the test folder with extra float32-filled tensors.</summary>
    private void RewriteWithExtraTensors(IEnumerable<(string Name, long Length, float Value)> extra)
    {
        var bytes = File.ReadAllBytes(Path.Combine(Source, "model.safetensors"));
        long headerLength = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        var header = JsonNode.Parse(bytes.AsSpan(8, (int)headerLength))!.AsObject();
        using var data = new MemoryStream();
        data.Write(bytes, (int)(8 + headerLength), (int)(bytes.Length - 8 - headerLength));
        foreach (var (name, length, value) in extra)
        {
            header[name] = new JsonObject { ["dtype"] = "BF16", ["shape"] = new JsonArray(length), ["data_offsets"] = new JsonArray(data.Length, data.Length + 2 * length) };
            var bf16 = (ushort)(BitConverter.SingleToUInt32Bits(value) >> 16);
            for (long i = 0; i < length; i++) { data.WriteByte((byte)bf16); data.WriteByte((byte)(bf16 >> 8)); }
        }
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        var padded = headerBytes.Concat(Enumerable.Repeat((byte)' ', (8 - headerBytes.Length % 8) % 8)).ToArray();
        using var file = File.Create(Path.Combine(_folder, "model.safetensors"));
        var lengthBytes = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(lengthBytes, padded.Length);
        file.Write(lengthBytes);
        file.Write(padded);
        data.WriteTo(file);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
