namespace BatchSync.Domain;

/// <summary>BatchSync.NotATenant: the execution's account is not one this stack serves (TenantAccounts, OrganizationId); nothing was submitted.</summary>
public sealed class NotATenantException(string account)
    : BatchSyncException(Name, $"Account {account} is not a tenant of this BatchSync stack (its TenantAccounts or OrganizationId); nothing was submitted.")
{
    public const string Name = "BatchSync.NotATenant";
}

/// <summary>
/// BatchSync.OwnershipNotProven: the task token does not belong to the execution the payload names (a heartbeat as that
/// account's spoke role, at that region's endpoint, was refused); nothing was submitted.
/// </summary>
public sealed class OwnershipNotProvenException(string account, string why)
    : BatchSyncException(Name, $"The task token is not one of account {account}'s tasks ({why}); nothing was submitted.")
{
    public const string Name = "BatchSync.OwnershipNotProven";
}

/// <summary>BatchSync.ExecutionArnRequired: the task is not the hub's own, and no ExecutionArn says where it is; nothing was submitted.</summary>
public sealed class ExecutionArnRequiredException(string why)
    : BatchSyncException(Name, $"ExecutionArn is required (\"ExecutionArn.$\": \"$$.Execution.Id\") for a state machine in another account or region: {why}; nothing was submitted.")
{
    public const string Name = "BatchSync.ExecutionArnRequired";
}

/// <summary>
/// BatchSync.SpokeUnreachable: the hub could not act as the tenant's spoke role (AssumeRole was refused or failed), so
/// none of its tasks' calls can be made now. Records are kept; calls are made again once the role is back.
/// </summary>
public sealed class SpokeUnreachableException(string account, string roleArn, string why, Exception? inner = null)
    : BatchSyncException(Name, $"The spoke role {roleArn} of account {account} could not be assumed: {why}", inner), IServiceCallFailure
{
    public const string Name = "BatchSync.SpokeUnreachable";
    public string Account { get; } = account;
    public string RoleArn { get; } = roleArn;
    /// <summary>Nothing was sent to Step Functions: the credentials were never had.</summary>
    public bool MayHaveReachedService => false;
}

/// <summary>BatchSync.CallbackNotAuthorized: the Callback did not carry its job's key (BatchSyncCallbackKey); nothing was changed.</summary>
public sealed class CallbackNotAuthorizedException(string jobId, string why)
    : BatchSyncException(Name, $"The Callback for job {jobId} is not authorized: {why}; nothing was changed.")
{
    public const string Name = "BatchSync.CallbackNotAuthorized";
}

/// <summary>
/// BatchSync.TaskTokenRequired: this stack serves other accounts, so a SubmitJob must carry its task token (the token is
/// what proves whose task it is; a request-response submit proves nothing); nothing was submitted.
/// </summary>
public sealed class TaskTokenRequiredException()
    : BatchSyncException(Name, "This BatchSync stack serves other accounts: SubmitJob needs the task's token (\"TaskToken.$\": \"$$.Task.Token\", with lambda:invoke.waitForTaskToken), which proves whose task it is; nothing was submitted.")
{
    public const string Name = "BatchSync.TaskTokenRequired";
}
