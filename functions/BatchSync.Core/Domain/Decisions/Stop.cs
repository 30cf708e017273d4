namespace BatchSync.Domain;

/// <summary>What to do about one record when its execution stopped.</summary>
public abstract record StopDecision
{
    private StopDecision() { }

    public sealed record Ignore(string Why) : StopDecision;

    /// <summary>Terminate the job (if it exists yet) and close the record.</summary>
    public sealed record TerminateAndClose(string? JobId, string TerminateReason, RecordEnding Ending) : StopDecision;
}

// An execution stop's rule.
public static partial class TaskDecisions
{
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
        if (stop.Account is { } from && TaskPlace.FromExecutionArn(stop.ExecutionArn) is { } place && place.Account != from)
        {
            // A tenant may forward its own executions' events to the hub's bus, never another account's.
            return new StopDecision.Ignore($"the event came from account {from}, not from the execution's account {place.Account}");
        }
        if (stop.StopDate is { } stopped && record.CreatedAt > stopped)
        {
            return new StopDecision.Ignore("record was created after the stop: it belongs to a redriven run");
        }
        return new StopDecision.TerminateAndClose(record.JobId, AbortedReason(stop.ExecutionArn),
            new RecordEnding(RecordStatus.Closed, $"execution {stop.Status}: job terminated"));
    }
}
