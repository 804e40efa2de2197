namespace AlisaCluster.Grains.Engines;

/// <summary>The "Worker" configuration section of a GPU-worker silo.</summary>
public sealed class WorkerOptions
{
    public const string Section = "Worker";

    /// <summary>Hugging Face checkpoint folder; empty = the bundled models/tiny-llama above the working directory.</summary>
    public string Model { get; set; } = "";
    /// <summary>One engine per entry: "auto" (CUDA when present, else CPU), "cpu", "cuda:0", ...</summary>
    public string[] Devices { get; set; } = ["auto"];
    /// <summary>"fp32", "fp16", "bf16"; empty = the device's default.</summary>
    public string DType { get; set; } = "";
    public int KvCapacityTokens { get; set; } = 16384;
    public int MaxBatchSize { get; set; } = 64;
    public int MaxWaiting { get; set; } = 1024;
    /// <summary>CPU threads for tensor work; 0 = all cores.</summary>
    public int Threads { get; set; }
    /// <summary>KV policy of requests that name none, in the engine's text form.</summary>
    public string DefaultKvPolicy { get; set; } = "dense";
    /// <summary>On shutdown, how long running sequences may finish before they are handed over to other silos.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(20);
}
