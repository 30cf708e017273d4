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

// A job state change event's rule.
public static partial class TaskDecisions
{
    /// <summary>Why a service job's event is ignored when no record names the job.</summary>
    public const string ForeignServiceJob =
        "no record names this service job: not this stack's, or its submit is not noted yet (the sweep looks for it by its marker)";

    /// <param name="evt">The event.</param>
    /// <param name="ns">This stack's namespace (a container job's marker names it).</param>
    /// <param name="record">The task's record: found by the job's marker, or, for a service job (whose events carry no
    /// tags, so no marker unless it was read from Batch), the record that names the job.</param>
    public static EventDecision OnJobEvent(JobStateEvent evt, string ns, TaskRecord? record)
    {
        if (evt.Kind == JobKind.Service && evt.Marker is null)
        {
            if (record is null || record.JobId != evt.JobId)
            {
                return new EventDecision.Ignore(ForeignServiceJob);
            }
        }
        else if (OwnerOf(evt.JobId, evt.Marker, ns) is Ownership.NotOurs notOurs)
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
}
