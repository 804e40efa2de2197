using AlisaCluster.Gateway.Health;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace AlisaCluster.Gateway.Admission;

/// <summary>Admission by what the workers can take, from the loads they publish (<see cref="ClusterLoadMonitor"/>): a
/// stream is admitted while the workers that are not draining and have fewer than Gateway:MaxWorkerWaiting sequences
/// queued have KV room for its prompt + max_tokens. Otherwise it waits up to Gateway:AdmissionWait for a later report
/// to show room, then is refused RESOURCE_EXHAUSTED, instead of joining queues that only make every stream slower.
/// The KV admitted since the last report counts against the room, so a burst between two reports does not all pass.</summary>
public sealed class CapacityAdmission(ClusterLoadMonitor monitor, IOptions<GatewayOptions> options)
{
    private readonly object _lock = new();
    private long _reportSeen = -1, _reserved;

    public async Task AdmitAsync(int kvTokens, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + options.Value.AdmissionWait;
        while (true)
        {
            var nextReport = monitor.NextReport;
            var refusal = TryReserve(kvTokens);
            if (refusal is null) return;
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
                throw new RpcException(new Status(StatusCode.ResourceExhausted, $"the worker silos are at capacity ({refusal}); retry in a few seconds"));
            try { await nextReport.WaitAsync(left, cancellationToken); }
            catch (TimeoutException) { }
        }
    }

    /// <summary>Null when admitted (and the KV reserved until the next report), else what is exhausted.</summary>
    private string? TryReserve(int kvTokens)
    {
        lock (_lock)
        {
            if (monitor.Reports != _reportSeen) (_reportSeen, _reserved) = (monitor.Reports, 0);
            var open = monitor.Workers.Where(w => !w.Draining).ToList();
            // no worker at all is not a capacity question: the stream fails UNAVAILABLE when it finds none
            if (open.Count == 0) return null;
            int maxWaiting = options.Value.MaxWorkerWaiting;
            var accepting = open.Where(w => w.Waiting < maxWaiting).ToList();
            long room = accepting.Sum(w => (long)w.KvTokensFree) - _reserved;
            if (accepting.Count > 0 && room >= kvTokens)
            {
                _reserved += kvTokens;
                return null;
            }
            return accepting.Count == 0
                ? $"every worker has {maxWaiting} or more sequences queued"
                : $"{Math.Max(0, room)} KV tokens free, {kvTokens} needed";
        }
    }
}
