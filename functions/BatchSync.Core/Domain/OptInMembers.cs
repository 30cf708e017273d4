namespace BatchSync.Domain;

/// <summary>
/// The members an answer carries beside the native JobDetail when its task opted in (payload member <c>BatchSync</c>,
/// <see cref="TaskOptions"/>); the output budget never leaves them out before its last step.
/// </summary>
public static class OptInMembers
{
    public const string Failure = "BatchSyncFailure";
    public const string Links = "BatchSyncLinks";
    public const string LogTail = "BatchSyncLogTail";
    public const string ArraySummary = "BatchSyncArraySummary";
}
