using BatchSync.Domain;

namespace BatchSync.Processing;

/// <summary>
/// Step Functions through a token bucket: what the sweep calls it with, so a sweep stays under the service's API quota
/// (shared by the whole account and region) instead of being throttled and leaning on retries.
/// </summary>
public sealed class PacedStepFunctionsApi(IStepFunctionsApi inner, TokenBucket bucket) : IStepFunctionsApi
{
    /// <summary>
    /// Step Functions' published quotas for SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat (each its own
    /// bucket, per account and region): bucket 3,000 and refill 500 a second in US East (N. Virginia), US West (Oregon)
    /// and Europe (Ireland); bucket 1,500 and refill 300 a second in every other region (Step Functions Developer Guide,
    /// "Step Functions service quotas", API action throttling). The sweep's default share is half of the smaller refill
    /// rate, for all its parts together, leaving the rest to JobStateChange, Callback and the account's other users.
    /// </summary>
    public const double DefaultSweepCallsPerSecond = 150;

    public async Task<TaskReply> SendTaskSuccessAsync(string taskToken, string output, CancellationToken cancellationToken = default)
    {
        await bucket.TakeAsync(cancellationToken).ConfigureAwait(false);
        return await inner.SendTaskSuccessAsync(taskToken, output, cancellationToken).ConfigureAwait(false);
    }

    public async Task<TaskReply> SendTaskFailureAsync(string taskToken, string error, string cause, CancellationToken cancellationToken = default)
    {
        await bucket.TakeAsync(cancellationToken).ConfigureAwait(false);
        return await inner.SendTaskFailureAsync(taskToken, error, cause, cancellationToken).ConfigureAwait(false);
    }

    public async Task<TaskReply> SendTaskHeartbeatAsync(string taskToken, CancellationToken cancellationToken = default)
    {
        await bucket.TakeAsync(cancellationToken).ConfigureAwait(false);
        return await inner.SendTaskHeartbeatAsync(taskToken, cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>Every task's Step Functions client through one token bucket (see <see cref="PacedStepFunctionsApi"/>).</summary>
public sealed class PacedStepFunctionsRouter(IStepFunctionsRouter inner, TokenBucket bucket) : IStepFunctionsRouter
{
    public IStepFunctionsApi For(TaskRecord task) => new PacedStepFunctionsApi(inner.For(task), bucket);
}
