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

    /// <summary>The job is still on its way: nothing to deliver; remember the job id if the record lacks it.</summary>
    public sealed record Wait(bool AttachJobId) : EventDecision;

    /// <summary>The job reached SUCCEEDED or FAILED: answer the task.</summary>
    public sealed record Deliver(bool Succeeded) : EventDecision;
}

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

/// <summary>
/// The rules of BatchSync, as pure functions of (record, signal). No I/O here: the processors fetch the record, ask,
/// and carry the answer out.
/// </summary>
public static class TaskDecisions
{
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
            _ => new EventDecision.Wait(AttachJobId: record.JobId is null),
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
