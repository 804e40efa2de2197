using System.Diagnostics;

namespace AlisaCluster.GpuWorker.Engine;

/// <summary>The decode step and handing its tokens out. Under async scheduling (vLLM's, <see cref="EngineOptions.AsyncScheduling"/>)
/// a step is issued before the previous step's picks are read: those stay on the device for the new step to feed, and
/// reach the host (<see cref="PickedTokens"/>) while it runs, so the device never waits for the host's scheduling,
/// staging and streaming between two steps. A sequence ends one step late: its row in the step after is discarded.</summary>
public sealed partial class InferenceEngine
{
    /// <summary>Issues a decode step, then hands out the previous step's tokens while the device runs it (async
    /// scheduling: a sequence feeds its in-flight token from the device); without async scheduling, or where a row's
    /// pick reads its history, the previous tokens are handed out first.</summary>
    private void Decode(List<Sequence> batch)
    {
        if (batch.Any(s => s.TokenInFlight && s.Sampling.ReadsHistory))
        {
            HandOut();
            batch.RemoveAll(s => s.State == SequenceState.Finished); // ended by the token just handed out
            if (batch.Count == 0) return;
        }
        long started = Stopwatch.GetTimestamp();
        _times.Begin(StepTimes.Phase.Decode);
        foreach (var sequence in batch) _prefix?.CheckWritable(sequence.Kv);
        var previous = _inFlight;
        var tokens = new StepTokens(batch.Select(s => s.TokenInFlight ? 0 : s.Tokens[^1]).ToList(), previous?.Ids,
            previous is null ? null : batch.Select(s => s.TokenInFlight ? previous.RowOf(s) : -1).ToList());
        PickedTokens picked;
        using (var logits = _decodeStep.Forward(batch.Select(s => s.Kv).ToList(), tokens))
        using (var summary = Sampler.Pick(logits, batch))
            picked = new PickedTokens(summary, batch);
        _inFlight = picked; // from here a failure drops it with the rest (DropInFlight)
        _times.End(StepTimes.Phase.Decode);
        _decodeSteps++;
        // host time: issuing the step (what a graph replay saves); handing out below waits for the previous step only
        _decodeHostSeconds += Stopwatch.GetElapsedTime(started).TotalSeconds;
        long emitting = Stopwatch.GetTimestamp();
        _output.PublishHeld(); // the last step's held tokens, while the device runs this one
        _outputSeconds += Stopwatch.GetElapsedTime(emitting).TotalSeconds;
        if (previous is not null) HandOut(previous);
        foreach (var sequence in batch.Where(s => s.State != SequenceState.Finished)) sequence.TokenInFlight = true;
        if (!_options.AsyncScheduling) HandOut();
    }

    /// <summary>Hands out the in-flight picks, if any.</summary>
    private void HandOut()
    {
        if (_inFlight is not { } picked) return;
        _inFlight = null;
        HandOut(picked);
    }

    /// <summary>Appends a step's picks to their sequences and hands them to the streams (waits for that step); a
    /// sequence that ended meanwhile (a stop, a cancel) drops its pick.</summary>
    private void HandOut(PickedTokens picked)
    {
        using (picked)
        {
            var choices = picked.Download();
            long emitting = Stopwatch.GetTimestamp();
            for (int b = 0; b < picked.Batch.Count; b++)
            {
                var sequence = picked.Batch[b];
                if (sequence.State == SequenceState.Finished) continue;
                _output.Add(sequence, choices[b]);
                _generatedTokens++;
            }
            _outputSeconds += Stopwatch.GetElapsedTime(emitting).TotalSeconds;
        }
    }

    /// <summary>Forgets the in-flight picks after a failed step (their streams fail with it).</summary>
    private void DropInFlight()
    {
        if (_inFlight is null) return;
        foreach (var sequence in _inFlight.Batch) sequence.TokenInFlight = false;
        _inFlight.Dispose();
        _inFlight = null;
    }
}
