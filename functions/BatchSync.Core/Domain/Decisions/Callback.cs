namespace BatchSync.Domain;

/// <summary>What to do with a Callback request.</summary>
public abstract record CallbackDecision
{
    private CallbackDecision() { }

    public sealed record Reject(Exception Error) : CallbackDecision;

    public sealed record StoreResult(string ResultJson) : CallbackDecision;

    public sealed record SendHeartbeat : CallbackDecision;

    public sealed record SendFailure(string Error, string Cause) : CallbackDecision;
}

// A Callback request's rule.
public static partial class TaskDecisions
{
    public static CallbackDecision OnCallback(CallbackRequest request, TaskRecord? record, Tenancy? tenancy = null)
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
        // Only the job's own code holds its key: a job id alone (listable) does not let another tenant's job speak.
        switch (AuthorizeCallback(record, request.CallbackKey, tenancy ?? Tenancy.HubOnly("")))
        {
            case CallbackAuthorization.KeyMissing:
                return new CallbackDecision.Reject(new CallbackNotAuthorizedException(request.JobId,
                    "this task requires the job's CallbackKey (its BatchSyncCallbackKey parameter)"));
            case CallbackAuthorization.WrongKey:
                return new CallbackDecision.Reject(new CallbackNotAuthorizedException(request.JobId, "the CallbackKey is not this job's"));
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
}
