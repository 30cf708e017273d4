namespace BatchSync.Domain;

/// <summary>
/// Where a task's execution runs, from its ARN (<c>$$.Execution.Id</c>,
/// <c>arn:&lt;partition&gt;:states:&lt;region&gt;:&lt;account&gt;:execution:&lt;state machine&gt;:&lt;name&gt;</c>): a task
/// token answers only at its execution's regional endpoint, from a principal of its execution's account.
/// </summary>
public sealed record TaskPlace(string Partition, string Region, string Account)
{
    /// <summary>The place an execution ARN names; null when it is absent or not an execution ARN.</summary>
    public static TaskPlace? FromExecutionArn(string? executionArn)
    {
        if (executionArn is null)
        {
            return null;
        }
        var parts = executionArn.Split(':');
        return parts.Length >= 8 && parts[0] == "arn" && parts[2] == "states" && parts[5] is "execution" or "express"
            && parts[1] == PartitionOf(parts[3]) && IsRegion(parts[3]) && IsAccountId(parts[4])
            ? new TaskPlace(parts[1], parts[3], parts[4])
            : null;
    }

    /// <summary>The place a record keeps (null: the hub's).</summary>
    public static TaskPlace? Of(TaskRecord record) =>
        record.Account is { } account && record.Region is { } region ? new TaskPlace(PartitionOf(region), region, account) : null;

    public static bool IsAccountId(string text) => text.Length == 12 && text.AsSpan().IndexOfAnyExceptInRange('0', '9') < 0;

    /// <summary>A region's name as AWS spells them (us-east-1, ap-southeast-2, us-gov-west-1, cn-north-1): it becomes an endpoint's host.</summary>
    public static bool IsRegion(string text)
    {
        // ^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$, by hand: no Regex, no LINQ over chars on the submit path's cold start.
        var parts = text.Split('-');
        if (parts.Length < 3 || parts[0].Length != 2 || parts[^1].Length is not (1 or 2) || parts[^1].AsSpan().IndexOfAnyExceptInRange('0', '9') >= 0)
        {
            return false;
        }
        for (var i = 0; i < parts.Length - 1; i++)
        {
            if (parts[i].Length == 0 || parts[i].AsSpan().IndexOfAnyExceptInRange('a', 'z') >= 0)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// The partition of a region: aws-cn, aws-us-gov, the isolated ones, else aws. A record keeps only its region, so
    /// every function derives the same partition (and spoke role ARN) from it; an execution ARN whose partition is not
    /// its region's is no place.
    /// </summary>
    public static string PartitionOf(string region) =>
        region.StartsWith("cn-", StringComparison.Ordinal) ? "aws-cn"
        : region.StartsWith("us-gov-", StringComparison.Ordinal) ? "aws-us-gov"
        : region.StartsWith("us-isob-", StringComparison.Ordinal) ? "aws-iso-b"
        : region.StartsWith("us-isof-", StringComparison.Ordinal) ? "aws-iso-f"
        : region.StartsWith("us-iso-", StringComparison.Ordinal) ? "aws-iso"
        : region.StartsWith("eu-isoe-", StringComparison.Ordinal) ? "aws-iso-e"
        : "aws";
}

/// <summary>Whose a task is, as the hub sees it.</summary>
public enum TaskHome
{
    /// <summary>The hub's own account and region (or no execution ARN): today's path, no role, no probe.</summary>
    Hub,
    /// <summary>The hub's account in another region: that region's endpoint, the function's own credentials.</summary>
    HubAccountElsewhere,
    /// <summary>A tenant's account (any region): its spoke role, its region's endpoint, ownership proven first.</summary>
    Tenant,
    /// <summary>An account that is not a tenant: nothing is submitted (BatchSync.NotATenant).</summary>
    NotATenant,
}

/// <summary>How Callback keys are used (BATCHSYNC_CALLBACK_KEYS). A tenant's task always has one, and requires it.</summary>
public enum CallbackKeys
{
    /// <summary>The hub's own tasks: no key delivered, none required (as before issue 20).</summary>
    Off,
    /// <summary>The hub's own tasks: the key is delivered to the job and checked when a Callback gives one (migration).</summary>
    Deliver,
    /// <summary>Every Callback must carry its job's key.</summary>
    Require,
}

/// <summary>
/// The hub and its tenants: which accounts' state machines this stack serves (TenantAccounts, OrganizationId), the
/// role it acts as in each (SpokeRoleName), and what a tenant may submit to (TenantJobQueues, TenantJobDefinitions,
/// TenantServiceRoles, where <c>{TenantAccount}</c> stands for the tenant's account id).
/// </summary>
public sealed record Tenancy
{
    public const string TenantPlaceholder = "{TenantAccount}";
    public const string DefaultSpokeRoleName = "BatchSyncSpoke";
    /// <summary>By default a tenant may use the job queues and definitions whose name starts with its account id and a hyphen.</summary>
    public const string DefaultTenantPattern = TenantPlaceholder + "-*";
    /// <summary>The tag every tenant's job carries: its account id.</summary>
    public const string TenantTag = "BatchSyncTenant";

    /// <summary>This stack's own: nothing crosses an account (TenantAccounts and OrganizationId empty).</summary>
    public static Tenancy HubOnly(string region, string? account = null) => new() { HubRegion = region, HubAccount = account };

    /// <summary>The hub's account (BATCHSYNC_ACCOUNT_ID; null when unknown: no account is told apart).</summary>
    public string? HubAccount { get; init; }
    public required string HubRegion { get; init; }
    public IReadOnlySet<string> TenantAccounts { get; init; } = new HashSet<string>();
    /// <summary>Every account of this organization is a tenant (IAM checks the membership: aws:ResourceOrgID on sts:AssumeRole).</summary>
    public string? OrganizationId { get; init; }
    public string SpokeRoleName { get; init; } = DefaultSpokeRoleName;
    public string TenantJobQueues { get; init; } = DefaultTenantPattern;
    public string TenantJobDefinitions { get; init; } = DefaultTenantPattern;
    /// <summary>
    /// The SageMaker execution roles (in the hub's account, where the training job runs) a tenant's service job may
    /// name, within AllowedServiceRoles: a service job's payload chooses its image and role itself, so without this one
    /// tenant could train as a role meant for another's data.
    /// </summary>
    public string TenantServiceRoles { get; init; } = DefaultTenantPattern;
    public CallbackKeys CallbackKeys { get; init; } = CallbackKeys.Off;

    /// <summary>Whether any other account is served.</summary>
    public bool HasTenants => TenantAccounts.Count > 0 || OrganizationId is not null;

    /// <summary>The role the hub acts as in a tenant's account.</summary>
    public string SpokeRoleArn(TaskPlace place) => $"arn:{place.Partition}:iam::{place.Account}:role/{SpokeRoleName}";

    /// <summary>
    /// What a tenant may submit to: the tenant patterns with its account id put in; a pattern that is not an ARN is a
    /// name pattern (the name of a queue or definition in any account and region the stack may use).
    /// </summary>
    public SubmitPermissions PermissionsFor(string account) => new(
        Patterns(TenantJobQueues, account, "arn:*:batch:*:*:job-queue/"), Patterns(TenantJobDefinitions, account, "arn:*:batch:*:*:job-definition/"),
        Patterns(TenantServiceRoles, account, "arn:*:iam::*:role/"));

    private static IEnumerable<string> Patterns(string list, string account, string namePrefix) =>
        list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Replace(TenantPlaceholder, account, StringComparison.Ordinal))
            .Select(p => p.StartsWith("arn:", StringComparison.Ordinal) ? p : namePrefix + p)
            // An empty list would allow everything: a tenant gets nothing unless a pattern names it.
            .DefaultIfEmpty($"{namePrefix}{account}-*");
}
