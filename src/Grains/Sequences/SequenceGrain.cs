using System.Runtime.CompilerServices;
using AlisaCluster.Grains.Engines;
using AlisaCluster.Grains.Placement;
using Microsoft.Extensions.Options;
using Orleans.Runtime;

namespace AlisaCluster.Grains.Sequences;

/// <summary>Runs one sequence on this silo's engines and streams its tokens. The activation lives as long as the
/// stream: when the stream ends, is cancelled or abandoned, the engine drops the sequence and the grain goes away.
/// While the sequence waits (queued, or a long prefill) a keep-alive chunk goes out every Worker:KeepAliveInterval.</summary>
[WorkerPlacement]
public sealed class SequenceGrain(EngineHost engines, ILocalSiloDetails silo, IOptions<WorkerOptions> options) : Grain, ISequenceGrain
{
    private RunningSequence? _running;

    public async IAsyncEnumerable<SequenceChunk> GenerateAsync(SequenceRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var siloName = silo.SiloAddress.ToParsableString();
        using var running = _running = engines.Start(request);
        int generated = request.ResumeTokens.Length;
        try
        {
            await foreach (var item in running.ReadAsync(options.Value.KeepAliveInterval, cancellationToken))
            {
                if (item is null)
                {
                    yield return SequenceChunk.KeepAlive(request.PromptTokens.Length, generated, siloName);
                    continue;
                }
                generated = item.GeneratedTokens;
                yield return RequestMapping.ToChunk(item, siloName);
            }
        }
        finally
        {
            _running = null;
            DeactivateOnIdle();
        }
    }

    public Task<bool> AbortAsync()
    {
        if (_running is null) DeactivateOnIdle(); // activated only by this call
        return Task.FromResult(_running?.Abort() ?? false);
    }
}
