namespace BatchSync.Domain;

/// <summary>What SubmitJob answers: a job, or why there is none (yet).</summary>
public sealed record SubmitStanding(string? JobArn, string? JobId, string? JobName, string? Note = null);

/// <summary>What a SubmitJob invocation does when the task's record exists already (a same-token re-invocation).</summary>
public abstract record RetryDecision
{
    private RetryDecision() { }

    /// <summary>The record ended: answer as it ended, submit nothing.</summary>
    public sealed record AnswerAsEnded : RetryDecision;

    /// <summary>A job is noted: answer with it.</summary>
    public sealed record AnswerWithJob : RetryDecision;

    /// <summary>Another invocation holds the submit lease: it owns the submit; wait a little and answer as it did.</summary>
    public sealed record WaitForHolder(TimeSpan LeaseLeft) : RetryDecision;

    /// <summary>The last holder released the lease knowing Batch did nothing: take the lease and submit.</summary>
    public sealed record SubmitAgain : RetryDecision;

    /// <summary>Batch may have created a job (holder died, or its answer was lost): take the lease and look for it.</summary>
    public sealed record FindJob(SubmitState Seen) : RetryDecision;
}

/// <summary>What to do once a search for a record's job by its marker has answered.</summary>
public abstract record SearchDecision
{
    private SearchDecision() { }

    /// <summary>Note the oldest job found; terminate the others (nobody can wait for two jobs).</summary>
    public sealed record Adopt(SubmittedJob Job, IReadOnlyList<SubmittedJob> Extra) : SearchDecision;

    /// <summary>No job yet, but Batch's lists may lag a fresh submit: look again later (the sweep does).</summary>
    public sealed record KeepWaiting(string Why) : SearchDecision;

    /// <summary>No job appeared within the grace: fail the task with this error.</summary>
    public sealed record FailTask(string Error, string Cause) : SearchDecision;
}

// SubmitJob's rules: a re-invocation with the same token, a rejected payload, the search for a job by its marker, what SubmitJob responds.
public static partial class TaskDecisions
{
    /// <summary>The reason on the record a rejected payload writes, so that its failure is sent once, through it.</summary>
    public const string RejectedPayloadReason = "the payload was rejected";

    /// <summary>The record of a task whose SubmitJob payload was rejected: nothing submitted, the failure sent through it.</summary>
    public static TaskRecord RejectedRecord(string taskKey, string taskToken, long now) => new()
    {
        TaskKey = taskKey, TaskToken = taskToken, Status = RecordStatus.Submitting, CreatedAt = now, UpdatedAt = now,
        Submit = SubmitState.NotSent, Reason = RejectedPayloadReason,
    };

    /// <summary>
    /// A rejected payload whose token has a record already: the failure goes through that record only if it is the
    /// rejection's own (this payload delivered again); a token that belongs to an accepted submit is answered as it stands.
    /// </summary>
    public static bool IsRejectionRecord(TaskRecord existing) =>
        existing.JobId is null && existing.Submit == SubmitState.NotSent && existing.Reason == RejectedPayloadReason;

    /// <summary>What SubmitJob answers for a task as its record stands.</summary>
    public static SubmitStanding StandingOf(TaskRecord record) => record switch
    {
        { JobId: not null } => new SubmitStanding(record.JobArn, record.JobId, record.JobName),
        { IsFinished: true } => new SubmitStanding(null, null, record.JobName, Note: $"the task already ended ({record.Status}): {record.Reason}"),
        _ => new SubmitStanding(null, null, record.JobName, Note: "the job is being submitted"),
    };

    /// <summary>
    /// What SubmitJob answers after noting its job: the job, unless the record did not take it (the job was terminated):
    /// then the record as it stands, or that it is gone.
    /// </summary>
    public static SubmitStanding StandingAfterAttach(SubmittedJob job, bool terminated, TaskRecord? after) => (terminated, after) switch
    {
        (false, _) => new SubmitStanding(job.JobArn, job.JobId, job.JobName),
        (true, { } record) => StandingOf(record),
        _ => new SubmitStanding(null, null, job.JobName, Note: "the task's record is gone"),
    };

    /// <summary>How much earlier than its record a job may say it was created (the clocks of two services).</summary>
    public static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(1);

    /// <summary>A job listed under the record's name may be the record's job: not older than the record (less the skew).</summary>
    public static bool MayBeTheJob(JobSummary job, TaskRecord record) =>
        (job.CreatedAt is null || job.CreatedAt >= record.CreatedAt - (long)ClockSkew.TotalMilliseconds)
        && string.Equals(job.JobName, record.JobName, StringComparison.Ordinal);

    /// <summary>ListJobs gives the newest first: once a whole page is older than the record, the search is over.</summary>
    public static bool SearchIsPast(IReadOnlyList<JobSummary> page, TaskRecord record) =>
        page.Count > 0 && page.All(j => j.CreatedAt is { } at && at < record.CreatedAt - (long)ClockSkew.TotalMilliseconds);

    /// <summary>A SubmitJob invocation found the task's record already written: by an earlier or concurrent invocation.</summary>
    public static RetryDecision OnSubmitRetry(TaskRecord existing, DateTimeOffset now)
    {
        if (existing.IsFinished)
        {
            return new RetryDecision.AnswerAsEnded();
        }
        if (existing.JobId is not null)
        {
            return new RetryDecision.AnswerWithJob();
        }
        var state = existing.Submit ?? SubmitState.Leased;
        var nowMs = now.ToUnixTimeMilliseconds();
        return state switch
        {
            SubmitState.Leased when existing.LeaseUntil > nowMs => new RetryDecision.WaitForHolder(TimeSpan.FromMilliseconds(existing.LeaseUntil.Value - nowMs)),
            SubmitState.NotSent => new RetryDecision.SubmitAgain(),
            _ => new RetryDecision.FindJob(state),
        };
    }

    /// <summary>A search for the record's job by its marker answered with <paramref name="found"/> (oldest first).</summary>
    public static SearchDecision OnJobSearch(TaskRecord record, IReadOnlyList<SubmittedJob> found, DateTimeOffset now, Timing timing)
    {
        if (found.Count > 0)
        {
            return new SearchDecision.Adopt(found[0], found.Skip(1).ToList());
        }
        var age = now.ToUnixTimeMilliseconds() - record.CreatedAt;
        return age < timing.SubmitGrace.TotalMilliseconds
            ? new SearchDecision.KeepWaiting("no job carries the task's marker yet (Batch's lists may lag a submit)")
            : new SearchDecision.FailTask(SubmitOutcomeUnknownError,
                $"Batch's answer to SubmitJob was lost ({record.Reason ?? "the invocation ended before noting a job"}) and no job named {record.JobName} in queue {record.JobQueue} carries this task's marker {timing.SubmitGrace.TotalMinutes:0.#} minutes later.");
    }
}
