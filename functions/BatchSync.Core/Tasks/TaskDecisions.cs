using BatchSync.Aws;

namespace BatchSync.Tasks;

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
}

/// <summary>What DescribeJobs said of a job, as far as the decisions care.</summary>
public sealed record JobView(string JobId, string Status);

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

    /// <summary>The submit never reported its job: look for the job by its marker before giving up.</summary>
    public sealed record FindOrphan : SweepDecision;

    /// <summary>Batch does not know the job: fail the task with this error.</summary>
    public sealed record FailTask(string Error, string Cause) : SweepDecision;
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

    /// <summary>How long a record may stay Submitting (SubmitJob in flight) before the sweep looks for its job.</summary>
    public static readonly TimeSpan SubmitGrace = TimeSpan.FromMinutes(5);

    /// <summary>The native integration's TerminateJob reason when the execution that managed a job stops.</summary>
    public static string AbortedReason(string executionArn) =>
        $"The Task state in AWS Step Functions execution [{executionArn}] which was managing this resource was aborted";

    /// <summary>TerminateJob's reason when the task waiting on a job was closed while the execution went on.</summary>
    public const string TaskClosedReason =
        "BatchSync: the Step Functions task waiting on this job is closed (state timeout, heartbeat timeout, Catch or a failed parallel branch)";

    /// <summary>The reason to terminate a job whose record ended while the job was being submitted.</summary>
    public static string OrphanReason(JobRecord record) =>
        record.ExecutionArn is { } execution ? AbortedReason(execution) : TaskClosedReason;

    public static EventDecision OnJobEvent(JobStateEvent evt, string ns, JobRecord? record)
    {
        if (evt.IsChildJob)
        {
            return new EventDecision.Ignore("array child or multi-node node job: its parent's events answer the task");
        }
        if (TaskKey.ParseMarker(evt.Marker) is not { } marker)
        {
            return new EventDecision.Ignore("job was not submitted by BatchSync");
        }
        if (marker.Namespace != ns)
        {
            return new EventDecision.Ignore($"job belongs to BatchSync deployment '{marker.Namespace}'");
        }
        if (record is null)
        {
            return new EventDecision.RetryLater("record not found (the event may have beaten the write)");
        }
        if (record.JobId is not null && record.JobId != evt.JobId)
        {
            return new EventDecision.Ignore($"the task's record names job {record.JobId}, not this one");
        }
        if (record.IsFinished)
        {
            return new EventDecision.Ignore($"task already finished ({record.Status}): duplicate or late event");
        }
        return evt.Status switch
        {
            "SUCCEEDED" => new EventDecision.Deliver(Succeeded: true),
            "FAILED" => new EventDecision.Deliver(Succeeded: false),
            _ => new EventDecision.Heartbeat(AttachJobId: record.JobId is null),
        };
    }

    public static HeartbeatFollowUp AfterHeartbeat(TaskAnswer answer) => answer switch
    {
        TaskAnswer.Accepted => HeartbeatFollowUp.None,
        TaskAnswer.TaskClosed => HeartbeatFollowUp.TerminateAndClose,
        _ => HeartbeatFollowUp.LogOnly,
    };

    /// <summary>The ending of a record whose task is gone, found out by a heartbeat.</summary>
    public static RecordEnding TaskGone(string what) =>
        new(RecordStatus.Closed, $"{what}: the task was already closed (TaskTimedOut/TaskDoesNotExist); job terminated");

    /// <summary>An execution stopped (ABORTED, TIMED_OUT or FAILED): what to do about one of its records.</summary>
    public static StopDecision OnExecutionStopped(JobRecord record, string executionArn, string status)
    {
        if (record.IsFinished)
        {
            return new StopDecision.Ignore($"task already finished ({record.Status})");
        }
        if (record.ExecutionArn != executionArn)
        {
            return new StopDecision.Ignore("record belongs to another execution");
        }
        return new StopDecision.TerminateAndClose(record.JobId, AbortedReason(executionArn),
            new RecordEnding(RecordStatus.Closed, $"execution {status}: job terminated"));
    }

    /// <summary>
    /// The sweep's rule for one unfinished record. <paramref name="job"/> is what DescribeJobs said (null when Batch
    /// did not return the job); <paramref name="now"/> decides whether a Submitting record has waited long enough.
    /// </summary>
    public static SweepDecision OnSweep(JobRecord record, JobView? job, DateTimeOffset now)
    {
        if (record.IsFinished)
        {
            return new SweepDecision.Ignore($"task already finished ({record.Status})");
        }
        if (record.JobId is null)
        {
            return now - DateTimeOffset.FromUnixTimeMilliseconds(record.CreatedAt) < SubmitGrace
                ? new SweepDecision.Ignore("SubmitJob is still in flight")
                : new SweepDecision.FindOrphan();
        }
        if (job is null)
        {
            return new SweepDecision.FailTask(JobNotFoundError, $"Batch no longer knows job {record.JobId}: its outcome cannot be read.");
        }
        return job.Status switch
        {
            "SUCCEEDED" => new SweepDecision.Deliver(Succeeded: true),
            "FAILED" => new SweepDecision.Deliver(Succeeded: false),
            _ => new SweepDecision.Heartbeat(),
        };
    }

    public static CallbackDecision OnCallback(CallbackRequest request, JobRecord? record)
    {
        if (record is null)
        {
            return new CallbackDecision.Reject(new JobNotFoundException(request.JobId));
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

    /// <summary>The record's ending once Step Functions answered a SendTaskSuccess or SendTaskFailure.</summary>
    public static RecordEnding AfterAnswer(TaskAnswer answer, bool succeeded, string what) => answer switch
    {
        TaskAnswer.Accepted => new RecordEnding(succeeded ? RecordStatus.Succeeded : RecordStatus.Failed, what),
        TaskAnswer.TaskClosed => new RecordEnding(RecordStatus.Closed, $"{what}; the task was already closed (TaskTimedOut/TaskDoesNotExist)"),
        _ => new RecordEnding(RecordStatus.Closed, $"{what}; Step Functions refused the task token (InvalidToken)"),
    };
}
