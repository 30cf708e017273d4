namespace BatchSync.Domain;

/// <summary>What a SubmitJob invocation does about where its task lives, before anything is written or submitted.</summary>
public abstract record PlaceDecision
{
    private PlaceDecision() { }

    /// <summary>The hub's own task (or its account's, elsewhere): go on as always.</summary>
    public sealed record Proceed(TaskPlace? Place) : PlaceDecision;

    /// <summary>
    /// Prove the token is that account's and region's before anything else: a heartbeat as its spoke role (a tenant),
    /// or with the function's own credentials (the hub's account, here or in another region).
    /// </summary>
    public sealed record ProveOwnership(TaskPlace Place) : PlaceDecision;

    /// <summary>Tenants are served and no execution ARN says where the task is: ask the hub's own endpoint whether it is its.</summary>
    public sealed record ProbeHubOwnership : PlaceDecision;

    /// <summary>Submit nothing; fail the invocation with this error (the task cannot be answered from here).</summary>
    public sealed record Refuse(BatchSyncException Error) : PlaceDecision;
}

/// <summary>What a heartbeat sent to prove a task's ownership said.</summary>
public enum OwnershipProof
{
    /// <summary>Accepted: the token is the claimed account's and its task waits.</summary>
    Proven,
    /// <summary>TaskTimedOut/TaskDoesNotExist: the token is that account's, but its task is closed: submit nothing.</summary>
    TaskClosed,
    /// <summary>InvalidToken: the token is not the claimed account's (or region's): submit nothing.</summary>
    NotProven,
}

/// <summary>Whether a Callback may act for a task.</summary>
public enum CallbackAuthorization
{
    Allowed,
    /// <summary>A key is required (a tenant's task, or CallbackKeys = Require) and none was given.</summary>
    KeyMissing,
    /// <summary>The key given is not the task's.</summary>
    WrongKey,
}

// The rules of serving other accounts and regions (issue 20): whose a task is, what proves it, who may call back.
public static partial class TaskDecisions
{
    /// <summary>Whose a task at <paramref name="place"/> is (null: no execution ARN, the hub's).</summary>
    public static TaskHome HomeOf(TaskPlace? place, Tenancy tenancy)
    {
        if (place is null || tenancy.HubAccount is null)
        {
            // Without the hub's account id no account can be told apart: a region of its own is still routed.
            return place is null || place.Region == tenancy.HubRegion ? TaskHome.Hub : TaskHome.HubAccountElsewhere;
        }
        if (place.Account == tenancy.HubAccount)
        {
            return place.Region == tenancy.HubRegion ? TaskHome.Hub : TaskHome.HubAccountElsewhere;
        }
        return tenancy.TenantAccounts.Contains(place.Account) || tenancy.OrganizationId is not null ? TaskHome.Tenant : TaskHome.NotATenant;
    }

    /// <summary>
    /// What SubmitJob does first about the task's place: where its calls go, and what must be proven before submitting.
    /// Once other accounts may invoke SubmitJob, no payload is taken at its word: every task is proven by its token
    /// (a heartbeat as the claimed account, at the claimed region; the hub's own with the function's credentials), and
    /// a submit without a token, which proves nothing, is refused.
    /// </summary>
    public static PlaceDecision OnSubmitPlace(string? executionArn, bool hasToken, Tenancy tenancy)
    {
        var place = TaskPlace.FromExecutionArn(executionArn);
        var home = HomeOf(place, tenancy);
        if (home == TaskHome.NotATenant)
        {
            return new PlaceDecision.Refuse(new NotATenantException(place!.Account));
        }
        if (!tenancy.HasTenants)
        {
            return new PlaceDecision.Proceed(place);
        }
        if (!hasToken)
        {
            return new PlaceDecision.Refuse(new TaskTokenRequiredException());
        }
        return place is null ? new PlaceDecision.ProbeHubOwnership() : new PlaceDecision.ProveOwnership(place);
    }

    /// <summary>
    /// SubmitJob was invoked through the spokes' bus: the execution ARN is required, and an event stamped with a third
    /// account (neither the execution's nor the hub's) is refused. EventBridge stamps the account an event was put from;
    /// where it cannot tell (no account, or the hub's), the ownership proof that follows decides.
    /// </summary>
    public static BatchSyncException? OnRelayedSubmit(string? executionArn, string eventAccount, string eventRegion, Tenancy tenancy)
    {
        if (TaskPlace.FromExecutionArn(executionArn) is not { } place)
        {
            return new ExecutionArnRequiredException($"it came through the spokes' event bus from account {eventAccount} in {eventRegion}");
        }
        return eventAccount.Length == 0 || eventAccount == place.Account || eventAccount == tenancy.HubAccount
            ? null
            : new OwnershipNotProvenException(place.Account, $"the event was put by account {eventAccount}, not by the execution's account");
    }

    public static OwnershipProof OnOwnershipProbe(TaskReply reply) => reply switch
    {
        TaskReply.Accepted => OwnershipProof.Proven,
        TaskReply.TaskClosed => OwnershipProof.TaskClosed,
        _ => OwnershipProof.NotProven,
    };

    /// <summary>
    /// Whether a Callback with <paramref name="givenKey"/> may act for <paramref name="record"/>'s task: a tenant's task
    /// always needs its key; the hub's own needs it when CallbackKeys is Require, and any key given must be right.
    /// </summary>
    public static CallbackAuthorization AuthorizeCallback(TaskRecord record, string? givenKey, Tenancy tenancy)
    {
        var required = tenancy.CallbackKeys == CallbackKeys.Require || IsTenantRecord(record, tenancy);
        if (givenKey is null)
        {
            return required ? CallbackAuthorization.KeyMissing : CallbackAuthorization.Allowed;
        }
        return TaskKey.CallbackKeyMatches(record.TaskToken, givenKey) ? CallbackAuthorization.Allowed : CallbackAuthorization.WrongKey;
    }

    /// <summary>Whether the job of this task gets its Callback key (a job parameter).</summary>
    public static bool DeliversCallbackKey(TaskHome home, Tenancy tenancy) =>
        home == TaskHome.Tenant || tenancy.CallbackKeys != CallbackKeys.Off;

    /// <summary>A record of another account's task (kept at submit, once its ownership was proven).</summary>
    public static bool IsTenantRecord(TaskRecord record, Tenancy tenancy) =>
        record.Account is { } account && tenancy.HubAccount is { } hub && account != hub;
}
