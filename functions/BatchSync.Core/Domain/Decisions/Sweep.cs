namespace BatchSync.Domain;

/// <summary>What the sweep does about one unfinished record, given what Batch says of its job.</summary>
public abstract record SweepDecision
{
    private SweepDecision() { }

    public sealed record Ignore(string Why) : SweepDecision;

    /// <summary>The job ended and its event was lost: deliver the outcome now.</summary>
    public sealed record Deliver(bool Succeeded) : SweepDecision;

    /// <summary>The job is still on its way: heartbeat (and terminate it if nobody waits any more).</summary>
    public sealed record Heartbeat : SweepDecision;

    /// <summary>The submit never noted its job (holder died, or Batch's answer was lost): look for it by its marker.</summary>
    public sealed record FindJob(SubmitState Seen) : SweepDecision;

    /// <summary>DescribeJobs did not return the job: note when that was first seen (Batch's lists may lag a submit).</summary>
    public sealed record MarkJobMissing : SweepDecision;

    /// <summary>Batch does not know the job: fail the task with this error.</summary>
    public sealed record FailTask(string Error, string Cause) : SweepDecision;
}

// The sweep's rules: what to do about one unfinished record, and when it is next due.
public static partial class TaskDecisions
{
    /// <summary>
    /// The sweep's rule for one unfinished record. <paramref name="job"/> is what DescribeJobs said (null when Batch
    /// did not return the job).
    /// </summary>
    public static SweepDecision OnSweep(TaskRecord record, JobView? job, DateTimeOffset now, Timing timing)
    {
        if (record.IsFinished)
        {
            return new SweepDecision.Ignore($"task already finished ({record.Status})");
        }
        var nowMs = now.ToUnixTimeMilliseconds();
        if (record.JobId is null)
        {
            var state = record.Submit ?? SubmitState.Leased;
            if (state == SubmitState.Leased && record.LeaseUntil > nowMs)
            {
                return new SweepDecision.Ignore("SubmitJob is still in flight (it holds the submit lease)");
            }
            if (state == SubmitState.NotSent)
            {
                return nowMs - record.CreatedAt < timing.SubmitGrace.TotalMilliseconds
                    ? new SweepDecision.Ignore("Batch did nothing; a re-invocation may still submit")
                    : new SweepDecision.FailTask(SubmitNotSentError, $"SubmitJob never reached Batch: {record.Reason}");
            }
            return new SweepDecision.FindJob(state);
        }
        if (job is null)
        {
            if (record.JobMissingSince is not { } since)
            {
                return new SweepDecision.MarkJobMissing();
            }
            return nowMs - since < timing.JobMissingGrace.TotalMilliseconds
                ? new SweepDecision.Ignore($"Batch has not returned job {record.JobId} since {DateTimeOffset.FromUnixTimeMilliseconds(since):O}; looking again later")
                : new SweepDecision.FailTask(JobNotFoundError, $"Batch no longer knows job {record.JobId}: its outcome cannot be read.");
        }
        return JobStatus.Outcome(job.Status) is { } succeeded ? new SweepDecision.Deliver(succeeded) : new SweepDecision.Heartbeat();
    }

    /// <summary>
    /// When a new record is first due: one sweep interval after submit, or right after the caller's deadline if that
    /// comes first.
    /// </summary>
    public static long FirstCheckAt(long createdAt, long? deadlineAt, Timing timing) =>
        WithDeadline(createdAt + (long)timing.SweepInterval.TotalMilliseconds, deadlineAt, createdAt, timing);

    /// <summary>
    /// When a record just checked is next due: the gaps double with the task's age (checks at 1, 3, 7, 15, ... sweep
    /// intervals after submit), capped at MaxCheckInterval; right after the caller's deadline if that comes first. A
    /// job closed by a state timeout, a Catch or a failed branch is so terminated at most one gap (plus one sweep) late.
    /// </summary>
    public static long NextCheckAt(TaskRecord record, DateTimeOffset now, Timing timing)
    {
        var nowMs = now.ToUnixTimeMilliseconds();
        var age = Math.Max(0, nowMs - record.CreatedAt);
        var gap = Math.Min(age + (long)timing.SweepInterval.TotalMilliseconds, (long)timing.MaxCheckInterval.TotalMilliseconds);
        gap = Math.Max(gap, (long)timing.SweepInterval.TotalMilliseconds);
        return WithDeadline(nowMs + gap, record.DeadlineAt, nowMs, timing);
    }

    private static long WithDeadline(long next, long? deadlineAt, long now, Timing timing) =>
        deadlineAt is { } deadline && deadline + (long)timing.DeadlineSlack.TotalMilliseconds is var afterDeadline && afterDeadline > now && afterDeadline < next
            ? afterDeadline
            : next;
}
