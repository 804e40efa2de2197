using System.Runtime.CompilerServices;
using AlisaCluster.Grains.Engines;
using AlisaCluster.Grains.Placement;
using Orleans.Runtime;

namespace AlisaCluster.Grains.Sequences;

/// <summary>Runs one sequence on this silo's engines and streams its tokens. The activation lives as long as the
/// stream: when the stream ends, is cancelled or abandoned, the engine drops the sequence and the grain goes away.</summary>
[WorkerPlacement]
public sealed class SequenceGrain(EngineHost engines, ILocalSiloDetails silo) : Grain, ISequenceGrain
{
    private RunningSequence? _running;

    public async IAsyncEnumerable<SequenceChunk> GenerateAsync(SequenceRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var siloName = silo.SiloAddress.ToParsableString();
        using var running = _running = engines.Start(request);
        try
        {
            await foreach (var item in running.ReadAsync(cancellationToken))
                yield return RequestMapping.ToChunk(item, siloName);
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
