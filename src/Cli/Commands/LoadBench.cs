using System.Diagnostics;
using System.Text.Json;
using AlisaCluster.GpuWorker.Model;
using Spectre.Console;

namespace AlisaCluster.Cli.Commands;

/// <summary>alisa bench --load: how long a checkpoint takes to load and how much host memory it takes on the way.
/// Host memory is sampled from /proc/self/status every 5 ms: anonymous memory (what the process allocated: on a GPU
/// target this should stay far below the checkpoint) apart from file-backed pages (the memory-mapped checkpoint,
/// page cache the kernel can drop).</summary>
public static class LoadBench
{
    public sealed record Result(string Model, string Device, string DType, double CheckpointGiB, double LoadSeconds,
        double PeakAnonGiB, double AnonBeforeGiB, double PeakFileGiB, double WeightsGiB, double PeakAnonAboveWeightsGiB);

    public static async Task<int> RunAsync(CommandLine args)
    {
        var folder = args.String("model") ?? ModelOptions.DefaultModelFolder;
        var output = args.String("out");
        var device = DeviceChoice.Parse(args.String("device"), args.String("dtype"));
        TorchSharp.torch.set_num_threads(args.Int("threads", Environment.ProcessorCount));
        args.RejectUnknown();
        double checkpointGiB = Directory.EnumerateFiles(folder, "*.safetensors").Sum(f => new FileInfo(f).Length) / (double)(1L << 30);

        var before = Memory.Read();
        var peak = before;
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                var now = Memory.Read();
                peak = new Memory(Math.Max(peak.Anon, now.Anon), Math.Max(peak.File, now.File));
                await Task.Delay(5);
            }
        });
        var clock = Stopwatch.StartNew();
        LoadedModel model = null!;
        await AnsiConsole.Status().StartAsync($"loading {folder}", _ =>
        {
            model = LoadedModel.FromCheckpoint(folder, device);
            if (device.Device.type == TorchSharp.DeviceType.CUDA) TorchSharp.torch.cuda.synchronize();
            return Task.CompletedTask;
        });
        clock.Stop();
        await sampling.CancelAsync();
        await sampler;
        using (model)
        {
            const double GiB = 1L << 30;
            double weights = model.Model.ParameterBytes / GiB;
            bool onHost = device.Device.type == TorchSharp.DeviceType.CPU;
            var result = new Result(model.Name, device.Device.ToString(), device.DType.ToString(), Math.Round(checkpointGiB, 3),
                Math.Round(clock.Elapsed.TotalSeconds, 3), Math.Round(peak.Anon / GiB, 3), Math.Round(before.Anon / GiB, 3),
                Math.Round(peak.File / GiB, 3), Math.Round(weights, 3),
                Math.Round((peak.Anon - before.Anon) / GiB - (onHost ? weights : 0), 3));
            var json = JsonSerializer.Serialize(result);
            Console.WriteLine(json);
            if (output is not null) await File.AppendAllTextAsync(output, json + "\n");
        }
        return 0;
    }

    /// <summary>Resident anonymous and file-backed memory of this process, in bytes.</summary>
    private readonly record struct Memory(long Anon, long File)
    {
        public static Memory Read()
        {
            long anon = 0, file = 0;
            foreach (var line in System.IO.File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("RssAnon:")) anon = Kilobytes(line);
                else if (line.StartsWith("RssFile:")) file = Kilobytes(line);
            }
            return new Memory(anon, file);
        }

        private static long Kilobytes(string line) => long.Parse(line.Split(':')[1].Trim().Split(' ')[0]) * 1024;
    }
}
