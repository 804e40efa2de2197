using System.Runtime.CompilerServices;
using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Engine;

namespace AlisaCluster.Grains.Engines;

/// <summary>One sequence inside an engine, seen from the grain: its events, with engine failures turned into the
/// cluster's exceptions; disposing it before the end cancels the sequence, which frees its KV.</summary>
public sealed class RunningSequence : IDisposable
{
    private readonly InferenceEngine _engine;
    private readonly Sequence _sequence;
    private readonly EngineHost _host;
    private bool _finished, _disposed;

    private RunningSequence(InferenceEngine engine, Sequence sequence, EngineHost host)
    {
        _engine = engine; _sequence = sequence; _host = host;
    }

    public static RunningSequence Start(InferenceEngine engine, SequenceRequest request, KvPolicy defaultPolicy, EngineHost host)
    {
        try
        {
            var generation = RequestMapping.ToGeneration(request, defaultPolicy, engine.Model.Config.Generation, engine.Model.Split);
            return new RunningSequence(engine, engine.Submit(generation), host);
        }
        catch (ArgumentException e)
        {
            throw new SequenceRejectedException(e.ParamName ?? "request", StripParamName(e));
        }
        catch (InvalidOperationException e)
        {
            throw new SequenceRejectedException("request", e.Message, exceedsCapacity: true);
        }
    }

    /// <summary>The sequence's events; null when nothing came for <paramref name="keepAlive"/> (the caller sends a
    /// keep-alive, so the gateway can tell a waiting sequence from a lost silo).</summary>
    public async IAsyncEnumerable<GenerationEvent?> ReadAsync(TimeSpan keepAlive, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var reader = _sequence.Events;
        Task<bool>? waiting = null;
        while (true)
        {
            waiting ??= reader.WaitToReadAsync(cancellationToken).AsTask();
            // wait at most keepAlive; the wait's own failure surfaces from the await below (the grain's context is kept)
            await ((Task)waiting).WaitAsync(keepAlive).ConfigureAwait(ConfigureAwaitOptions.ContinueOnCapturedContext | ConfigureAwaitOptions.SuppressThrowing);
            if (!waiting.IsCompleted)
            {
                yield return null;
                continue;
            }
            bool more;
            try { more = await waiting; }
            catch (OperationCanceledException) when (_host.Handover.IsCancellationRequested)
            {
                throw new SequenceHandoverException("the worker silo shut down before the sequence finished");
            }
            catch (GenerationRejectedException e) { throw new SequenceRejectedException("max_tokens", e.Message, exceedsCapacity: true); }
            catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
            {
                throw new SequenceHandoverException($"the engine stopped: {e.Message}");
            }
            waiting = null;
            if (!more) yield break;
            while (reader.TryRead(out var item))
            {
                _finished = item.IsFinal;
                yield return item;
            }
        }
    }

    /// <summary>Asks the engine to end the sequence now; the stream then ends with an abort. False if it already ended.</summary>
    public bool Abort()
    {
        if (_finished || _disposed) return false;
        _engine.Cancel(_sequence);
        return true;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (!_finished) _engine.Cancel(_sequence);
        _host.Ended();
    }

    private static string StripParamName(ArgumentException e) =>
        e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", "");
}
