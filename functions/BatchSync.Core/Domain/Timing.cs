namespace BatchSync.Domain;

/// <summary>BatchSync's time limits; the settings (BatchSyncSettings.TimingFrom) read them from the environment where the template sets them.</summary>
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
}
