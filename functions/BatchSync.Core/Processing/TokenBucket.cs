namespace BatchSync.Processing;

/// <summary>
/// A client-side token bucket: at most <see cref="Rate"/> takes a second on average, bursts up to
/// <see cref="Capacity"/>. A caller reserves the next slot and waits for it, so callers are served in the order they
/// came and none waits longer than the rate makes it.
/// </summary>
public sealed class TokenBucket
{
    private readonly TimeProvider _clock;
    private readonly object _gate = new();
    private double _tokens;
    private long _refilledAt;

    public TokenBucket(double ratePerSecond, double capacity, TimeProvider clock)
    {
        if (!(ratePerSecond > 0) || !(capacity >= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(ratePerSecond), "A token bucket needs a positive rate and room for one token at least.");
        }
        Rate = ratePerSecond;
        Capacity = capacity;
        _clock = clock;
        _tokens = capacity;
        _refilledAt = clock.GetTimestamp();
    }

    public double Rate { get; }
    public double Capacity { get; }

    /// <summary>Takes one token, waiting for it when the bucket is empty.</summary>
    public async ValueTask TakeAsync(CancellationToken cancellationToken = default)
    {
        TimeSpan wait;
        lock (_gate)
        {
            var now = _clock.GetTimestamp();
            _tokens = Math.Min(Capacity, _tokens + _clock.GetElapsedTime(_refilledAt, now).TotalSeconds * Rate);
            _refilledAt = now;
            _tokens -= 1;
            if (_tokens >= 0)
            {
                return;
            }
            wait = TimeSpan.FromSeconds(-_tokens / Rate);
        }
        await Task.Delay(wait, _clock, cancellationToken).ConfigureAwait(false);
    }
}
