namespace BatchSync.Domain;

/// <summary>BatchSync's time limits, from the environment where the template sets them.</summary>
public sealed record Timing
{
    /// <summary>How long a SubmitJob invocation holds the submit lease: well inside its 50 s invocation budget.</summary>
    public TimeSpan SubmitLease { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>How long a second invocation waits for the lease holder's answer before answering "in progress".</summary>
    public TimeSpan HolderWait { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>How long after its record was created a submit whose job was not found is still looked for.</summary>
    public TimeSpan SubmitGrace { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>How long a claim to send a task's answer holds: past the function's 60 s timeout, so a claimant is surely gone.</summary>
    public TimeSpan AnswerClaim { get; init; } = TimeSpan.FromSeconds(70);
    /// <summary>How long a noted job may be missing from DescribeJobs (two sweeps at least) before its task fails.</summary>
    public TimeSpan JobMissingGrace { get; init; } = TimeSpan.FromMinutes(4);

    /// <summary>How often the sweep runs (the template's SweepIntervalMinutes).</summary>
    public TimeSpan SweepInterval { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>The longest gap between two checks of one task (the template's MaxCheckIntervalMinutes).</summary>
    public TimeSpan MaxCheckInterval { get; init; } = TimeSpan.FromMinutes(60);
    /// <summary>How long after a caller's deadline the check comes (Step Functions closes the task at the deadline).</summary>
    public TimeSpan DeadlineSlack { get; init; } = TimeSpan.FromSeconds(10);

    public static Timing Default { get; } = new();

    /// <summary>
    /// BATCHSYNC_SUBMIT_LEASE_SECONDS, BATCHSYNC_SUBMIT_GRACE_SECONDS, BATCHSYNC_JOB_MISSING_GRACE_SECONDS and
    /// BATCHSYNC_ANSWER_CLAIM_SECONDS override the defaults (the claim must outlast an invocation: keep it above the
    /// function's timeout).
    /// </summary>
    public static Timing FromSettings(Func<string, string?> value)
    {
        TimeSpan Or(string name, TimeSpan fallback) =>
            double.TryParse(value(name), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var s) && s > 0
                ? TimeSpan.FromSeconds(s)
                : fallback;
        TimeSpan Minutes(string name, TimeSpan fallback) => Or(name, fallback / 60) * 60;
        return new Timing
        {
            SubmitLease = Or("BATCHSYNC_SUBMIT_LEASE_SECONDS", Default.SubmitLease),
            SubmitGrace = Or("BATCHSYNC_SUBMIT_GRACE_SECONDS", Default.SubmitGrace),
            JobMissingGrace = Or("BATCHSYNC_JOB_MISSING_GRACE_SECONDS", Default.JobMissingGrace),
            AnswerClaim = Or("BATCHSYNC_ANSWER_CLAIM_SECONDS", Default.AnswerClaim),
            SweepInterval = Minutes("BATCHSYNC_SWEEP_INTERVAL_MINUTES", Default.SweepInterval),
            MaxCheckInterval = Minutes("BATCHSYNC_MAX_CHECK_INTERVAL_MINUTES", Default.MaxCheckInterval),
        };
    }
}
