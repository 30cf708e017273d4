using BatchSync.Domain;

namespace BatchSync.Aws;

/// <summary>
/// The time left to the current invocation, so calls and retries stop in time for the function to fail cleanly (and
/// the platform to retry it) instead of being killed mid-call. Set once per invocation by FunctionHost from
/// BATCHSYNC_INVOCATION_BUDGET_SECONDS (the template sets it a few seconds under the function's Timeout).
/// </summary>
public static class InvocationBudget
{
    private static readonly AsyncLocal<DateTimeOffset?> CurrentDeadline = new();

    /// <summary>What an attempt needs at the least to be worth starting.</summary>
    public static readonly TimeSpan MinimumAttempt = TimeSpan.FromMilliseconds(500);

    public static DateTimeOffset? Deadline => CurrentDeadline.Value;

    /// <summary>Starts a budget for the calls made from here on in this async flow; dispose to end it.</summary>
    public static IDisposable Start(TimeSpan budget, TimeProvider clock)
    {
        var previous = CurrentDeadline.Value;
        CurrentDeadline.Value = clock.GetUtcNow() + budget;
        return new Restore(previous);
    }

    /// <summary>Time left, or null when no budget is set.</summary>
    public static TimeSpan? Remaining(TimeProvider clock) => Deadline is { } d ? d - clock.GetUtcNow() : null;

    /// <summary>Whether the budget holds a wait of <paramref name="backoff"/> and then one more attempt (always, with no budget).</summary>
    public static bool HoldsRetryAfter(TimeSpan backoff, TimeProvider clock) =>
        Remaining(clock) is not { } left || left >= backoff + MinimumAttempt;

    private sealed class Restore(DateTimeOffset? previous) : IDisposable
    {
        public void Dispose() => CurrentDeadline.Value = previous;
    }
}

/// <summary>The invocation's budget ran out before a call could be made or retried.</summary>
public sealed class BudgetExhaustedException(string service, string operation, Exception? last)
    : Exception($"{service} {operation}: the invocation's time budget is spent; failing so the platform retries the invocation." +
        (last is null ? "" : $" Last error: {last.Message}"), last), IServiceCallFailure
{
    bool IServiceCallFailure.MayHaveReachedService => false;
    bool IServiceCallFailure.BudgetSpent => true;
}
