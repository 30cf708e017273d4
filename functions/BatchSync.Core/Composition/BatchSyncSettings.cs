using System.Globalization;
using BatchSync.Aws;
using BatchSync.Domain;
using BatchSync.Failures;
using BatchSync.Processing;

namespace BatchSync.Composition;

/// <summary>
/// Every BATCHSYNC_* setting, read from the environment once, when a function is constructed (its cold start), and
/// checked there: a value that is set but not valid fails the cold start with a message naming the variable, rather
/// than being replaced by a default in silence. Unset (or blank) values take their defaults.
/// </summary>
public sealed record BatchSyncSettings
{
    public const string NamespaceVariable = "BATCHSYNC_NAMESPACE";
    public const string TableVariable = "BATCHSYNC_TABLE";
    public const string RetentionVariable = "BATCHSYNC_RECORD_RETENTION_DAYS";
    public const string BudgetVariable = "BATCHSYNC_INVOCATION_BUDGET_SECONDS";
    public const string AttemptTimeoutVariable = "BATCHSYNC_ATTEMPT_TIMEOUT_MS";
    public const string SweepCallsVariable = "BATCHSYNC_SWEEP_CALLS_PER_SECOND";
    public const string AccountVariable = "BATCHSYNC_ACCOUNT_ID";
    public const string TenantAccountsVariable = "BATCHSYNC_TENANT_ACCOUNTS";
    public const string OrganizationVariable = "BATCHSYNC_ORGANIZATION_ID";
    public const string SpokeRoleVariable = "BATCHSYNC_SPOKE_ROLE_NAME";
    public const string TenantQueuesVariable = "BATCHSYNC_TENANT_JOB_QUEUES";
    public const string TenantDefinitionsVariable = "BATCHSYNC_TENANT_JOB_DEFINITIONS";
    public const string TenantServiceRolesVariable = "BATCHSYNC_TENANT_SERVICE_ROLES";
    public const string CallbackKeysVariable = "BATCHSYNC_CALLBACK_KEYS";

    /// <summary>Region and endpoints (AWS_REGION, AWS_ENDPOINT_URL*).</summary>
    public required AwsSettings Aws { get; init; }
    /// <summary>The stack's name, in every marker (BATCHSYNC_NAMESPACE, required).</summary>
    public required string Namespace { get; init; }
    /// <summary>The records' table (BATCHSYNC_TABLE, required).</summary>
    public required string Table { get; init; }
    /// <summary>How long a finished record is kept (BATCHSYNC_RECORD_RETENTION_DAYS, default 30).</summary>
    public TimeSpan RecordRetention { get; init; } = TimeSpan.FromDays(30);
    /// <summary>BatchSync's time limits (leases, claims, graces, the sweep's schedule).</summary>
    public Timing Timing { get; init; } = Timing.Default;
    /// <summary>How failed jobs are answered (BATCHSYNC_FAILURE_ERROR, the log tail's settings), without a logs client.</summary>
    public AnswerSettings Answers { get; init; } = AnswerSettings.Native;
    /// <summary>How long one invocation may spend on calls before failing cleanly (BATCHSYNC_INVOCATION_BUDGET_SECONDS; null: no limit).</summary>
    public TimeSpan? Budget { get; init; }
    /// <summary>The calls' retry policy, with BATCHSYNC_ATTEMPT_TIMEOUT_MS as its per-attempt timeout.</summary>
    public RetryPolicy Retry { get; init; } = RetryPolicy.Default;
    /// <summary>The job queues and definitions SubmitJob may use (BATCHSYNC_ALLOWED_JOB_QUEUES, BATCHSYNC_ALLOWED_JOB_DEFINITIONS).</summary>
    public SubmitPermissions Permissions { get; init; } = SubmitPermissions.Everything;
    /// <summary>Step Functions calls a second the whole sweep may make, all its parts together (BATCHSYNC_SWEEP_CALLS_PER_SECOND, default 150).</summary>
    public double SweepCallsPerSecond { get; init; } = PacedStepFunctionsApi.DefaultSweepCallsPerSecond;
    /// <summary>The hub's account and the tenants it serves (BATCHSYNC_ACCOUNT_ID, _TENANT_ACCOUNTS, _ORGANIZATION_ID, _SPOKE_ROLE_NAME, ...).</summary>
    public Tenancy Tenancy { get; init; } = Tenancy.HubOnly("us-east-1");

    public static BatchSyncSettings FromEnvironment() => From(AwsSettings.FromEnvironment());

    /// <summary>Reads and checks every setting; throws <see cref="InvalidOperationException"/> naming the first bad one.</summary>
    public static BatchSyncSettings From(AwsSettings aws)
    {
        var value = aws.Value;
        var attemptMs = Positive(value, AttemptTimeoutVariable, "a positive whole number of milliseconds", whole: true);
        var budget = Positive(value, BudgetVariable, "a positive whole number of seconds", whole: true);
        return new BatchSyncSettings
        {
            Aws = aws,
            Namespace = value(NamespaceVariable) ?? throw new InvalidOperationException($"{NamespaceVariable} is not set (the template sets it to the stack name)."),
            Table = value(TableVariable) ?? throw new InvalidOperationException($"{TableVariable} is not set."),
            RecordRetention = TimeSpan.FromDays(Positive(value, RetentionVariable, "a positive whole number of days", whole: true) ?? 30),
            Timing = TimingFrom(value),
            Answers = AnswerSettings.From(value),
            Budget = budget is { } seconds ? TimeSpan.FromSeconds((int)seconds) : null,
            Retry = attemptMs is { } ms ? new RetryPolicy { AttemptTimeout = TimeSpan.FromMilliseconds((int)ms) } : RetryPolicy.Default,
            Permissions = SubmitPermissions.FromLists(value(SubmitPermissions.QueuesVariable), value(SubmitPermissions.DefinitionsVariable),
                value(SubmitPermissions.ServiceRolesVariable)),
            SweepCallsPerSecond = Positive(value, SweepCallsVariable, "a positive number of calls a second") ?? PacedStepFunctionsApi.DefaultSweepCallsPerSecond,
            Tenancy = TenancyFrom(aws.Region, value),
        };
    }

    /// <summary>The hub and its tenants, checked: account ids of 12 digits, an organization id, an IAM role name.</summary>
    public static Tenancy TenancyFrom(string region, Func<string, string?> value)
    {
        var hub = value(AccountVariable);
        if (hub is not null && !TaskPlace.IsAccountId(hub))
        {
            throw new InvalidOperationException($"{AccountVariable} must be a 12-digit account id (is '{hub}').");
        }
        var tenants = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in (value(TenantAccountsVariable) ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!TaskPlace.IsAccountId(item))
            {
                throw new InvalidOperationException($"{TenantAccountsVariable} must be comma-separated 12-digit account ids ('{item}' is not one).");
            }
            tenants.Add(item);
        }
        var organization = value(OrganizationVariable);
        if (organization is not null && !(organization.StartsWith("o-", StringComparison.Ordinal) && organization.Length is >= 12 and <= 34
            && Only(organization[2..], "abcdefghijklmnopqrstuvwxyz0123456789")))
        {
            throw new InvalidOperationException($"{OrganizationVariable} must be an organization id, o- and 10 to 32 lowercase letters or digits (is '{organization}').");
        }
        var role = value(SpokeRoleVariable) ?? Tenancy.DefaultSpokeRoleName;
        if (role.Length > 64 || !Only(role, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+=,.@-"))
        {
            throw new InvalidOperationException($"{SpokeRoleVariable} must be an IAM role name, 1 to 64 of letters, digits and +=,.@_- (is '{role}').");
        }
        // By hand, not Enum.TryParse<T>: a generic instantiation over an enum is compiled at the cold start.
        var keys = value(CallbackKeysVariable) switch
        {
            null => CallbackKeys.Off,
            { } k when k.Equals("Off", StringComparison.OrdinalIgnoreCase) => CallbackKeys.Off,
            { } k when k.Equals("Deliver", StringComparison.OrdinalIgnoreCase) => CallbackKeys.Deliver,
            { } k when k.Equals("Require", StringComparison.OrdinalIgnoreCase) => CallbackKeys.Require,
            { } k => throw new InvalidOperationException($"{CallbackKeysVariable} must be Off, Deliver or Require (is '{k}')."),
        };
        var tenancy = new Tenancy
        {
            HubAccount = hub,
            HubRegion = region,
            TenantAccounts = tenants,
            OrganizationId = organization,
            SpokeRoleName = role,
            TenantJobQueues = value(TenantQueuesVariable) ?? Tenancy.DefaultTenantPattern,
            TenantJobDefinitions = value(TenantDefinitionsVariable) ?? Tenancy.DefaultTenantPattern,
            TenantServiceRoles = value(TenantServiceRolesVariable) ?? Tenancy.DefaultTenantPattern,
            CallbackKeys = keys,
        };
        if (tenancy.HasTenants && hub is null)
        {
            throw new InvalidOperationException($"{AccountVariable} must be set when {TenantAccountsVariable} or {OrganizationVariable} is (the template sets it to the stack's account).");
        }
        return tenancy;
    }

    /// <summary>
    /// BATCHSYNC_SUBMIT_LEASE_SECONDS, BATCHSYNC_SUBMIT_GRACE_SECONDS, BATCHSYNC_JOB_MISSING_GRACE_SECONDS,
    /// BATCHSYNC_ANSWER_CLAIM_SECONDS (keep the claim above the function's timeout: it must outlast an invocation),
    /// BATCHSYNC_SWEEP_INTERVAL_MINUTES and BATCHSYNC_MAX_CHECK_INTERVAL_MINUTES override the defaults.
    /// </summary>
    public static Timing TimingFrom(Func<string, string?> value)
    {
        var d = Timing.Default;
        TimeSpan Seconds(string name, TimeSpan fallback) =>
            Positive(value, name, "a positive number of seconds") is { } s ? TimeSpan.FromSeconds(s) : fallback;
        TimeSpan Minutes(string name, TimeSpan fallback) =>
            Positive(value, name, "a positive number of minutes") is { } m ? TimeSpan.FromSeconds(m * 60) : fallback;
        return new Timing
        {
            SubmitLease = Seconds("BATCHSYNC_SUBMIT_LEASE_SECONDS", d.SubmitLease),
            SubmitGrace = Seconds("BATCHSYNC_SUBMIT_GRACE_SECONDS", d.SubmitGrace),
            JobMissingGrace = Seconds("BATCHSYNC_JOB_MISSING_GRACE_SECONDS", d.JobMissingGrace),
            AnswerClaim = Seconds("BATCHSYNC_ANSWER_CLAIM_SECONDS", d.AnswerClaim),
            SweepInterval = Minutes("BATCHSYNC_SWEEP_INTERVAL_MINUTES", d.SweepInterval),
            MaxCheckInterval = Minutes("BATCHSYNC_MAX_CHECK_INTERVAL_MINUTES", d.MaxCheckInterval),
        };
    }

    /// <summary>Whether every character of <paramref name="text"/> is one of <paramref name="allowed"/> (no LINQ over chars at the cold start).</summary>
    private static bool Only(string text, string allowed) => text.AsSpan().IndexOfAnyExcept(allowed) < 0;

    /// <summary>A positive number, null when unset; a value that is set but not one fails with a named message.</summary>
    private static double? Positive(Func<string, string?> value, string name, string what, bool whole = false)
    {
        var text = value(name)?.Trim();
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }
        var parsed = whole
            ? int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : (double?)null
            : double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) && double.IsFinite(x) ? x : null;
        return parsed is > 0 ? parsed : throw new InvalidOperationException($"{name} must be {what} (is '{text}').");
    }
}
