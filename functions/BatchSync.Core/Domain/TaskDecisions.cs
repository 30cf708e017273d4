
namespace BatchSync.Domain;

/// <summary>What to do with a job state change event.</summary>
public abstract record EventDecision
{
    private EventDecision() { }

    /// <summary>Not ours, a child job, or nothing left to do: acknowledge and change nothing.</summary>
    public sealed record Ignore(string Why) : EventDecision;

    /// <summary>Ours, but the record is not readable yet: fail the invocation so the event is retried.</summary>
    public sealed record RetryLater(string Why) : EventDecision;

    /// <summary>
    /// The job is still on its way: heartbeat the task (so HeartbeatSeconds catches stalled jobs, and a closed task is
    /// noticed), and remember the job id if the record lacks it.
    /// </summary>
    public sealed record Heartbeat(bool AttachJobId) : EventDecision;

    /// <summary>The job reached SUCCEEDED or FAILED: answer the task.</summary>
    public sealed record Deliver(bool Succeeded) : EventDecision;

    /// <summary>
    /// A job of ours that no task waits for (its record names another job, or ended without naming it): terminate it
    /// rather than let it run unwatched.
    /// </summary>
    public sealed record Terminate(string Reason, string Why) : EventDecision;
}

/// <summary>What DescribeJobs said of a job, as far as the decisions care.</summary>
public sealed record JobView(string Status);

/// <summary>A Batch job status that ends the job, and how: the only place the two final statuses are named.</summary>
public static class JobStatus
{
    public const string Succeeded = "SUCCEEDED";
    public const string Failed = "FAILED";

    /// <summary>True for SUCCEEDED, false for FAILED, null for a job still on its way.</summary>
    public static bool? Outcome(string status) => status switch { Succeeded => true, Failed => false, _ => null };

    public static bool IsFinal(string status) => Outcome(status) is not null;
}

/// <summary>Whose job it is, from its id and marker.</summary>
public abstract record Ownership
{
    private Ownership() { }

    /// <summary>A job this deployment submitted for the task with this record key.</summary>
    public sealed record Ours(string TaskKey) : Ownership;

    public sealed record NotOurs(string Why) : Ownership;
}

/// <summary>What SubmitJob answers: a job, or why there is none (yet).</summary>
public sealed record SubmitStanding(string? JobArn, string? JobId, string? JobName, string? Note = null);

/// <summary>What to do with a Callback request.</summary>
public abstract record CallbackDecision
{
    private CallbackDecision() { }

    public sealed record Reject(Exception Error) : CallbackDecision;

    public sealed record StoreResult(string ResultJson) : CallbackDecision;

    public sealed record SendHeartbeat : CallbackDecision;

    public sealed record SendFailure(string Error, string Cause) : CallbackDecision;
}

/// <summary>How a record ends after a SendTask* call.</summary>
public sealed record RecordEnding(RecordStatus Status, string Reason);

/// <summary>What to do about one record when its execution stopped.</summary>
public abstract record StopDecision
{
    private StopDecision() { }

    public sealed record Ignore(string Why) : StopDecision;

    /// <summary>Terminate the job (if it exists yet) and close the record.</summary>
    public sealed record TerminateAndClose(string? JobId, string TerminateReason, RecordEnding Ending) : StopDecision;
}

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

/// <summary>
/// What a failed call that is not safe to repeat blindly (SubmitJob, which has no idempotency token; a terminal
/// SendTaskSuccess/SendTaskFailure, of which a task takes one) tells about the service's side.
/// </summary>
public enum CallFailure
{
    /// <summary>A definite 4xx error: refused (for SubmitJob, the task fails with <c>Batch.&lt;code&gt;</c>, as natively).</summary>
    Refused,
    /// <summary>Throttled, or the connection was never made: the service surely did nothing.</summary>
    NotSent,
    /// <summary>A 5xx, a timeout or a connection lost after sending: the service may have acted.</summary>
    OutcomeUnknown,
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

/// <summary>What to do with a job once a guarded attach answered.</summary>
public abstract record AttachFollowUp
{
    private AttachFollowUp() { }

    /// <summary>The record names this job: it is watched.</summary>
    public sealed record Keep : AttachFollowUp;

    /// <summary>The record names another job or ended without one: nobody waits for this job.</summary>
    public sealed record Terminate(string Reason) : AttachFollowUp;
}

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

/// <summary>What to do once a heartbeat was answered.</summary>
public enum HeartbeatFollowUp
{
    /// <summary>The task still waits.</summary>
    None,
    /// <summary>TaskTimedOut/TaskDoesNotExist: nobody waits; terminate the job and close the record.</summary>
    TerminateAndClose,
    /// <summary>InvalidToken: not evidence that the task closed; log it, change nothing (a delivery will record it).</summary>
    LogOnly,
}

/// <summary>
/// The rules of BatchSync, as pure functions of (record, signal). No I/O here: the processors fetch the record, ask,
/// and carry the answer out.
/// </summary>
public static class TaskDecisions
{
    public const string JobNotFoundError = "BatchSync.JobNotFound";
    public const string SubmitOutcomeUnknownError = "BatchSync.SubmitOutcomeUnknown";
    public const string SubmitNotSentError = "BatchSync.SubmitNotSent";

    /// <summary>The native integration's TerminateJob reason when the execution that managed a job stops.</summary>
    public static string AbortedReason(string executionArn) =>
        $"The Task state in AWS Step Functions execution [{executionArn}] which was managing this resource was aborted";

    /// <summary>TerminateJob's reason when the task waiting on a job was closed while the execution went on.</summary>
    public const string TaskClosedReason =
        "BatchSync: the Step Functions task waiting on this job is closed (state timeout, heartbeat timeout, Catch or a failed parallel branch)";

    /// <summary>The reason to terminate a job whose record ended while the job was being submitted.</summary>
    public static string OrphanReason(TaskRecord record) =>
        record.ExecutionArn is { } execution ? AbortedReason(execution) : TaskClosedReason;

    /// <summary>Array children (<c>id:n</c>) and multi-node node jobs (<c>id#n</c>) carry their parent's marker.</summary>
    public static bool IsChildJob(string jobId) => jobId.Contains(':') || jobId.Contains('#');

    /// <summary>Whether a job is this deployment's, for which task: by its id (never a child) and its marker.</summary>
    public static Ownership OwnerOf(string jobId, string? marker, string ns)
    {
        if (IsChildJob(jobId))
        {
            return new Ownership.NotOurs("array child or multi-node node job: its parent's events answer the task");
        }
        if (TaskKey.ParseMarker(marker) is not { } parsed)
        {
            return new Ownership.NotOurs("job was not submitted by BatchSync");
        }
        return parsed.Namespace == ns
            ? new Ownership.Ours(parsed.Key)
            : new Ownership.NotOurs($"job belongs to BatchSync deployment '{parsed.Namespace}'");
    }

    public static EventDecision OnJobEvent(JobStateEvent evt, string ns, TaskRecord? record)
    {
        if (OwnerOf(evt.JobId, evt.Marker, ns) is Ownership.NotOurs notOurs)
        {
            return new EventDecision.Ignore(notOurs.Why);
        }
        if (record is null)
        {
            return new EventDecision.RetryLater("record not found (the event may have beaten the write)");
        }
        var named = record.JobId == evt.JobId;
        if (!named && (record.JobId is not null || record.IsFinished))
        {
            var why = record.JobId is not null
                ? $"the task's record names job {record.JobId}, not this one"
                : $"the task ended ({record.Status}) without naming this job";
            return evt.IsTerminal
                ? new EventDecision.Ignore($"{why}; this job has ended too")
                : new EventDecision.Terminate(OrphanReason(record), $"{why}: nobody waits for it");
        }
        if (record.IsFinished)
        {
            return new EventDecision.Ignore($"task already finished ({record.Status}): duplicate or late event");
        }
        return JobStatus.Outcome(evt.Status) is { } succeeded
            ? new EventDecision.Deliver(succeeded)
            : new EventDecision.Heartbeat(AttachJobId: record.JobId is null);
    }

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

    public static HeartbeatFollowUp AfterHeartbeat(TaskReply answer) => answer switch
    {
        TaskReply.Accepted => HeartbeatFollowUp.None,
        TaskReply.TaskClosed => HeartbeatFollowUp.TerminateAndClose,
        _ => HeartbeatFollowUp.LogOnly,
    };

    /// <summary>The ending of a record whose task is gone, found out by a heartbeat.</summary>
    public static RecordEnding TaskGone(string what) =>
        new(RecordStatus.Closed, $"{what}: the task was already closed (TaskTimedOut/TaskDoesNotExist); job terminated");

    /// <summary>
    /// An execution stopped (ABORTED, TIMED_OUT or FAILED): what to do about one of its records. A redriven execution
    /// keeps its ARN, so only records created before the stop belong to the run that stopped (a late or replayed
    /// FAILED of the first run must not terminate the redriven run's jobs).
    /// </summary>
    public static StopDecision OnExecutionStopped(TaskRecord record, ExecutionStatusEvent stop)
    {
        if (record.IsFinished)
        {
            return new StopDecision.Ignore($"task already finished ({record.Status})");
        }
        if (record.ExecutionArn != stop.ExecutionArn)
        {
            return new StopDecision.Ignore("record belongs to another execution");
        }
        if (stop.StopDate is { } stopped && record.CreatedAt > stopped)
        {
            return new StopDecision.Ignore("record was created after the stop: it belongs to a redriven run");
        }
        return new StopDecision.TerminateAndClose(record.JobId, AbortedReason(stop.ExecutionArn),
            new RecordEnding(RecordStatus.Closed, $"execution {stop.Status}: job terminated"));
    }

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

    /// <summary>What a failed unsafe call means; null when the failure is not a call's (a bug: let it surface).</summary>
    public static CallFailure? OnCallFailure(Exception failure) => failure switch
    {
        // Unsafe calls are retried only after throttling or a connection never made, so a spent budget means nothing was sent.
        IServiceCallFailure { BudgetSpent: true } => CallFailure.NotSent,
        IServiceCallFailure { ErrorCode: not null, IsThrottling: true } => CallFailure.NotSent,
        IServiceCallFailure { ErrorCode: not null, IsServerError: true } => CallFailure.OutcomeUnknown,
        IServiceCallFailure { ErrorCode: not null } => CallFailure.Refused,
        IServiceCallFailure { MayHaveReachedService: false } => CallFailure.NotSent,
        IServiceCallFailure or OperationCanceledException => CallFailure.OutcomeUnknown,
        _ => null,
    };

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

    /// <summary>What to do with a job once its guarded attach answered; <paramref name="record"/> is the record after it.</summary>
    public static AttachFollowUp AfterAttach(AttachOutcome outcome, TaskRecord? record) => outcome switch
    {
        AttachOutcome.Attached or AttachOutcome.AlreadyAttached => new AttachFollowUp.Keep(),
        _ => new AttachFollowUp.Terminate(record is null ? TaskClosedReason : OrphanReason(record)),
    };

    public static CallbackDecision OnCallback(CallbackRequest request, TaskRecord? record)
    {
        if (record is null)
        {
            return new CallbackDecision.Reject(new JobNotFoundException(request.JobId));
        }
        if (record.JobId != request.JobId)
        {
            // Only the job the record names may speak for the task: a duplicate or foreign job changes nothing.
            return new CallbackDecision.Reject(new JobNotFoundException(request.JobId,
                record.JobId is null ? "its task's record names no job" : $"its task's record names job {record.JobId}"));
        }
        if (record.IsFinished)
        {
            return new CallbackDecision.Reject(new TaskAlreadyFinishedException(request.JobId, record.Status));
        }
        return request.Kind switch
        {
            CallbackKind.Result => new CallbackDecision.StoreResult(request.ResultJson!),
            CallbackKind.Heartbeat => new CallbackDecision.SendHeartbeat(),
            _ => new CallbackDecision.SendFailure(request.Error!, request.Cause ?? ""),
        };
    }

    /// <summary>
    /// An invocation claimed the answer over an earlier claim that ran out, or lost the acknowledgment of its own send;
    /// a heartbeat then tells whether the task still waits. Only an accepted heartbeat allows sending the answer: a closed
    /// task may have been closed by that very answer, and a second one must never be sent.
    /// </summary>
    public static bool MaySendAfterProbe(TaskReply probe) => probe == TaskReply.Accepted;

    /// <summary>The ending of a record whose answer may have been taken, found closed by a probing heartbeat.</summary>
    public static RecordEnding AnswerPresumedTaken(TaskReply probe, string what) => new(RecordStatus.Closed,
        $"{what}; an earlier send may have been taken (its acknowledgment was lost), and the task is now closed ({probe})");

    /// <summary>The record's ending once Step Functions answered a SendTaskSuccess or SendTaskFailure.</summary>
    public static RecordEnding AfterAnswer(TaskReply answer, bool succeeded, string what) => answer switch
    {
        TaskReply.Accepted => new RecordEnding(succeeded ? RecordStatus.Succeeded : RecordStatus.Failed, what),
        TaskReply.TaskClosed => new RecordEnding(RecordStatus.Closed, $"{what}; the task was already closed (TaskTimedOut/TaskDoesNotExist)"),
        _ => new RecordEnding(RecordStatus.Closed, $"{what}; Step Functions refused the task token (InvalidToken)"),
    };
}
