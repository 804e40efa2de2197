using AlisaCluster.GpuWorker.Model;

namespace AlisaCluster.Cli;

/// <summary>The options every command shares to pick a model: a checkpoint folder or a named shape with random weights.</summary>
public static class ModelOptions
{
    /// <summary>The bundled tiny-llama: models/ of the repository (searched upward from the working directory).</summary>
    public static string DefaultModelFolder
    {
        get
        {
            for (var dir = new DirectoryInfo(Environment.CurrentDirectory); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "models", "tiny-llama");
                if (Directory.Exists(candidate)) return candidate;
            }
            throw new DirectoryNotFoundException("no models/tiny-llama above the working directory; pass --model FOLDER");
        }
    }

    public static LoadedModel Load(CommandLine args)
    {
        var device = DeviceChoice.Parse(args.String("device"), args.String("dtype"));
        var shape = args.String("dummy-weights");
        var folder = args.String("model") ?? DefaultModelFolder;
        TorchSharp.torch.set_num_threads(args.Int("threads", Environment.ProcessorCount));
        return shape is null
            ? LoadedModel.FromCheckpoint(folder, device)
            : LoadedModel.FromNamedShape(shape, folder, device);
    }
}
