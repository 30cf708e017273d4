namespace BatchSync.Aws;

/// <summary>
/// How calls are retried inside one invocation: capped exponential backoff with full jitter, and never past the
/// invocation's deadline (then the invocation fails and the platform's own retries take over).
/// </summary>
public sealed class RetryPolicy
{
    public int MaxAttempts { get; init; } = 4;
    /// <summary>
    /// Attempts for a call the service throttled (it did nothing): more than for other failures, so a fan-out beyond a
    /// service's rate (Batch's SubmitJob) waits its turn inside the invocation's budget instead of failing.
    /// </summary>
    public int MaxThrottledAttempts { get; init; } = 10;
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromMilliseconds(100);
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(2);
    /// <summary>How long one attempt may take before it is abandoned as a timeout.</summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(5);
    public Func<TimeSpan, CancellationToken, Task> Delay { get; init; } = Task.Delay;
    public Func<double> Jitter { get; init; } = Random.Shared.NextDouble;
    public TimeProvider Clock { get; init; } = TimeProvider.System;

    public static RetryPolicy Default { get; } = new();

    /// <summary>The default policy, with BATCHSYNC_ATTEMPT_TIMEOUT_MS (if set) as the per-attempt timeout.</summary>
    public static RetryPolicy FromSettings(AwsSettings settings) =>
        int.TryParse(settings.Value("BATCHSYNC_ATTEMPT_TIMEOUT_MS"), out var ms) && ms > 0
            ? new RetryPolicy { AttemptTimeout = TimeSpan.FromMilliseconds(ms) }
            : Default;

    public TimeSpan BackoffBefore(int attempt)
    {
        var ceiling = Math.Min(MaxDelay.TotalMilliseconds, BaseDelay.TotalMilliseconds * Math.Pow(2, attempt - 1));
        return TimeSpan.FromMilliseconds(ceiling * Jitter());
    }
}
