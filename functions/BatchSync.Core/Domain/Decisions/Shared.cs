namespace BatchSync.Domain;

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

/// <summary>How a record ends after a SendTask* call.</summary>
public sealed record RecordEnding(RecordStatus Status, string Reason);

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

/// <summary>What to do once Step Functions replied to a heartbeat.</summary>
public enum HeartbeatFollowUp
{
    /// <summary>The task still waits.</summary>
    None,
    /// <summary>TaskTimedOut/TaskDoesNotExist: nobody waits; terminate the job and close the record.</summary>
    TerminateAndClose,
    /// <summary>InvalidToken: not evidence that the task closed; log it, change nothing (a delivery will record it).</summary>
    LogOnly,
}

/// <summary>What to do with a job once a guarded attach returned.</summary>
public abstract record AttachFollowUp
{
    private AttachFollowUp() { }

    /// <summary>The record names this job: it is watched.</summary>
    public sealed record Keep : AttachFollowUp;

    /// <summary>The record names another job or ended without one: nobody waits for this job.</summary>
    public sealed record Terminate(string Reason) : AttachFollowUp;
}

/// <summary>
/// The rules of BatchSync, as pure functions of (record, signal). No I/O here: the processors fetch the record, ask,
/// and carry the decision out. One file per signal under Domain/Decisions (submit, job event, callback, sweep, stop);
/// this one holds the rules they share: whose a job is, what a failed call or a reply means, how a record ends.
/// </summary>
public static partial class TaskDecisions
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

    public static HeartbeatFollowUp AfterHeartbeat(TaskReply reply) => reply switch
    {
        TaskReply.Accepted => HeartbeatFollowUp.None,
        TaskReply.TaskClosed => HeartbeatFollowUp.TerminateAndClose,
        _ => HeartbeatFollowUp.LogOnly,
    };

    /// <summary>The ending of a record whose task is gone, found out by a heartbeat.</summary>
    public static RecordEnding TaskGone(string what) =>
        new(RecordStatus.Closed, $"{what}: the task was already closed (TaskTimedOut/TaskDoesNotExist); job terminated");

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

    /// <summary>What to do with a job once its guarded attach returned; <paramref name="record"/> is the record after it.</summary>
    public static AttachFollowUp AfterAttach(AttachOutcome outcome, TaskRecord? record) => outcome switch
    {
        AttachOutcome.Attached or AttachOutcome.AlreadyAttached => new AttachFollowUp.Keep(),
        _ => new AttachFollowUp.Terminate(record is null ? TaskClosedReason : OrphanReason(record)),
    };

    /// <summary>
    /// An invocation claimed the answer over an earlier claim that ran out, or lost the acknowledgment of its own send;
    /// a heartbeat then tells whether the task still waits. Only an accepted heartbeat allows sending the answer: a closed
    /// task may have been closed by that very answer, and a second one must never be sent.
    /// </summary>
    public static bool MaySendAfterProbe(TaskReply probe) => probe == TaskReply.Accepted;

    /// <summary>The ending of a record whose answer may have been taken, found closed by a probing heartbeat.</summary>
    public static RecordEnding AnswerPresumedTaken(TaskReply probe, string what) => new(RecordStatus.Closed,
        $"{what}; an earlier send may have been taken (its acknowledgment was lost), and the task is now closed ({probe})");

    /// <summary>The record's ending once Step Functions replied to a SendTaskSuccess or SendTaskFailure.</summary>
    public static RecordEnding AfterAnswer(TaskReply reply, bool succeeded, string what) => reply switch
    {
        TaskReply.Accepted => new RecordEnding(succeeded ? RecordStatus.Succeeded : RecordStatus.Failed, what),
        TaskReply.TaskClosed => new RecordEnding(RecordStatus.Closed, $"{what}; the task was already closed (TaskTimedOut/TaskDoesNotExist)"),
        _ => new RecordEnding(RecordStatus.Closed, $"{what}; Step Functions refused the task token (InvalidToken)"),
    };
}
