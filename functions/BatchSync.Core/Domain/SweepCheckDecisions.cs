namespace BatchSync.Domain;

/// <summary>When a record is next due after a sweep checked it, and how many of its checks in a row have failed.</summary>
public readonly record struct ScheduledCheck(string TaskKey, long NextCheckAt, int Failures);

/// <summary>How one sweep check ended.</summary>
public enum CheckOutcome
{
    /// <summary>Its calls were answered (whatever the answer): the record goes back on its age schedule.</summary>
    Done,
    /// <summary>A call failed (throttled past its retries, timed out, 5xx, a write refused) or the check hit a bug: try again at the next sweep.</summary>
    Failed,
    /// <summary>The invocation's time ran out during the check: nothing is written, the record stays due and goes first next time.</summary>
    Cut,
}

public static partial class TaskDecisions
{
    /// <summary>Beyond this many failures in a row the retry gap stops doubling (it is capped at MaxCheckInterval long before).</summary>
    private const int MaxBackoffDoublings = 16;

    /// <summary>
    /// What a sweep writes for a record it checked. A check that was done puts the record back on its age schedule
    /// (<see cref="NextCheckAt"/>) and clears its failures. A failed check is never pushed to the age schedule: the record
    /// is due again at the next sweep, and only a record that keeps failing backs off (next sweep, then 2, 4, 8, ...
    /// sweep intervals, capped at MaxCheckInterval), so a poison record costs one check per gap and blocks nobody. The
    /// retry is due half an interval before the sweep it aims at starts (<paramref name="sweepStarted"/> plus the gap):
    /// a tick that comes early or late by less than that still finds it, and no earlier tick does.
    /// </summary>
    public static ScheduledCheck AfterCheck(TaskRecord record, CheckOutcome outcome, DateTimeOffset sweepStarted, DateTimeOffset checkedAt, Timing timing)
    {
        if (outcome == CheckOutcome.Cut)
        {
            throw new ArgumentException("A cut check writes nothing: the record stays due as it is.", nameof(outcome));
        }
        if (outcome == CheckOutcome.Done)
        {
            return new ScheduledCheck(record.TaskKey, NextCheckAt(record, checkedAt, timing), 0);
        }
        var failures = record.CheckFailures + 1;
        var interval = (long)timing.SweepInterval.TotalMilliseconds;
        var gap = Math.Min(interval << Math.Min(failures - 1, MaxBackoffDoublings), Math.Max(interval, (long)timing.MaxCheckInterval.TotalMilliseconds));
        var next = sweepStarted.ToUnixTimeMilliseconds() + gap - interval / 2;
        // A check that ran long must still not be due again before the next sweep starts.
        return new ScheduledCheck(record.TaskKey, Math.Max(next, checkedAt.ToUnixTimeMilliseconds() + 1), failures);
    }
}
