using System.Security.Cryptography;
using System.Text;

namespace BatchSync.Domain;

public enum RecordStatus
{
    /// <summary>Written before SubmitJob is called: the job may or may not exist yet.</summary>
    Submitting,
    /// <summary>Batch accepted the job; the task waits for its outcome.</summary>
    Submitted,
    /// <summary>SendTaskSuccess was accepted.</summary>
    Succeeded,
    /// <summary>SendTaskFailure was accepted (job failed, submit failed, or the job's code reported an error).</summary>
    Failed,
    /// <summary>The task was already closed (timed out, or its execution ended) or its token was refused.</summary>
    Closed,
}

/// <summary>Where a Submitting record's submit stands (meaningful only while no job is noted).</summary>
public enum SubmitState
{
    /// <summary>An invocation holds the submit lease until <see cref="TaskRecord.LeaseUntil"/>; past it, the holder is presumed dead.</summary>
    Leased,
    /// <summary>The holder released the lease knowing Batch did nothing (throttled, never connected): submitting again is safe.</summary>
    NotSent,
    /// <summary>Batch may or may not have created the job (5xx, timeout or connection lost after sending): find it by its marker.</summary>
    OutcomeUnknown,
}

/// <summary>What a guarded attach found.</summary>
public enum AttachOutcome
{
    /// <summary>The record named no job and was open: it names this job now.</summary>
    Attached,
    /// <summary>The record already named this job (a retry, or the event beat the submitter).</summary>
    AlreadyAttached,
    /// <summary>The record names another job: this one lost the race and nobody waits for it.</summary>
    OtherJob,
    /// <summary>The record ended without naming any job (submit failed, execution stopped, outcome never found).</summary>
    FinishedWithoutJob,
    /// <summary>There is no record with this key.</summary>
    NoRecord,
}

public static class AttachOutcomes
{
    /// <summary>What a guarded attach of <paramref name="jobId"/> found, from the record as it is after the attempt.</summary>
    public static AttachOutcome Of(TaskRecord? after, string jobId, bool written) => after switch
    {
        null => AttachOutcome.NoRecord,
        _ when after.JobId == jobId => written ? AttachOutcome.Attached : AttachOutcome.AlreadyAttached,
        { JobId: not null } => AttachOutcome.OtherJob,
        _ => AttachOutcome.FinishedWithoutJob,
    };
}

/// <summary>What claiming the right to send a task's terminal answer found.</summary>
public enum ClaimOutcome
{
    /// <summary>Claimed; no earlier claim (the answer was surely never sent).</summary>
    Claimed,
    /// <summary>Claimed over an earlier claim that ran out: its claimant may have sent the answer before dying.</summary>
    ClaimedAfterExpiredClaim,
    /// <summary>Another invocation is sending the answer now.</summary>
    Held,
    /// <summary>The record has ended (or does not exist).</summary>
    Finished,
}

/// <summary>
/// What a claim of the right to send a task's terminal answer found: its <see cref="Outcome"/> and the record as it is
/// after the claim (<see cref="Record"/>, null when there is none). Only a claim that <see cref="IsHeld"/> may send.
/// </summary>
public sealed record AnswerClaim(ClaimOutcome Outcome, TaskRecord? Record)
{
    /// <summary>This invocation holds the claim (fresh, or over one that ran out).</summary>
    public bool IsHeld => Outcome is ClaimOutcome.Claimed or ClaimOutcome.ClaimedAfterExpiredClaim;
}

/// <summary>What BatchSync remembers about one task: its token and the job that answers it.</summary>
public sealed record TaskRecord
{
    public required string TaskKey { get; init; }
    public required string TaskToken { get; init; }
    public required RecordStatus Status { get; init; }
    public string? JobId { get; init; }
    public string? JobArn { get; init; }
    public string? JobName { get; init; }
    /// <summary>The queue the job was submitted to (to find an orphaned job by name after a crash).</summary>
    public string? JobQueue { get; init; }
    /// <summary>A container job or a service job: which Batch operations reach it.</summary>
    public JobKind JobKind { get; init; }
    /// <summary>The execution that owns the task (<c>$$.Execution.Id</c>), when the state machine passes it.</summary>
    public string? ExecutionArn { get; init; }
    public string? StateName { get; init; }
    /// <summary>The execution's account, when it is not the hub's own region and account (from ExecutionArn, proven at submit).</summary>
    public string? Account { get; init; }
    /// <summary>The execution's region, with <see cref="Account"/>: where the task's calls go.</summary>
    public string? Region { get; init; }
    /// <summary>The task's opt-ins beyond the native answers (payload member <c>BatchSync</c>), as compact JSON.</summary>
    public string? Options { get; init; }
    /// <summary>A result reported through the Callback function, as JSON text.</summary>
    public string? Result { get; init; }
    /// <summary>Why the record finished the way it did.</summary>
    public string? Reason { get; init; }
    public long CreatedAt { get; init; }
    public long UpdatedAt { get; init; }
    /// <summary>Epoch seconds at which DynamoDB's TTL may delete a finished record.</summary>
    public long? ExpiresAt { get; init; }
    /// <summary>While Submitting: where the submit stands.</summary>
    public SubmitState? Submit { get; init; }
    /// <summary>While Submitting: who holds the submit lease (one id per invocation) and until when (epoch ms).</summary>
    public string? LeaseId { get; init; }
    public long? LeaseUntil { get; init; }
    /// <summary>When the sweep next checks this unfinished record (epoch ms): the due index's sort key.</summary>
    public long? NextCheckAt { get; init; }
    /// <summary>How many sweep checks of this record failed in a row (their calls failed); 0 after one that did not.</summary>
    public int CheckFailures { get; init; }
    /// <summary>When the task's state times out, if the caller said (<c>TimeoutSeconds</c>): a check follows right after.</summary>
    public long? DeadlineAt { get; init; }
    /// <summary>When a sweep first found Batch not returning the record's job (epoch ms); cleared when it is seen again.</summary>
    public long? JobMissingSince { get; init; }
    /// <summary>
    /// Who is sending the task's terminal answer (one id per invocation) and until when (epoch ms): written before the
    /// answer is sent, so no other invocation sends a second one; past it, the claimant is presumed dead.
    /// </summary>
    public string? AnswerClaimId { get; init; }
    public long? AnswerClaimUntil { get; init; }

    public bool IsFinished => Status is RecordStatus.Succeeded or RecordStatus.Failed or RecordStatus.Closed;
}

/// <summary>
/// The due index is sharded so that submits and finishes spread over several partition key values: a record's shard
/// follows from its key.
/// </summary>
public static class DueShards
{
    public const int Count = 16;

    public static string Of(string taskKey)
    {
        var hash = 2166136261u;
        foreach (var c in taskKey)
        {
            hash = (hash ^ c) * 16777619u;
        }
        return Name((int)(hash % Count));
    }

    public static string Name(int shard) => $"OPEN#{shard:D2}";

    public static IEnumerable<string> All => Enumerable.Range(0, Count).Select(Name);
}

/// <summary>
/// The record key for a task: SHA-256 of its token, base64url. The same token always gives the same key, so a retried
/// SubmitJob finds the first attempt's record; the key reveals nothing of the token, so it may ride on the job.
/// </summary>
public static class TaskKey
{
    public static string For(string taskToken) =>
        Base64Url(SHA256.HashData(Encoding.UTF8.GetBytes(taskToken)));

    /// <summary>The job parameter that carries the task's Callback key, when it has one.</summary>
    public const string CallbackKeyParameter = "BatchSyncCallbackKey";

    /// <summary>
    /// The key a job gives with its Callbacks: derived from the task token (so every invocation with that token
    /// derives the same one, and only a holder of the token or of the job's parameters can), never the token itself,
    /// and not the record key (which any reader of the job's marker sees).
    /// </summary>
    public static string CallbackKey(string taskToken) =>
        Base64Url(SHA256.HashData(Encoding.UTF8.GetBytes("BatchSync callback key\n" + taskToken)));

    /// <summary>Whether <paramref name="given"/> is the task's Callback key (compared in constant time).</summary>
    public static bool CallbackKeyMatches(string taskToken, string given) =>
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(CallbackKey(taskToken)), Encoding.UTF8.GetBytes(given));

    /// <summary>
    /// A service job's SubmitServiceJob clientToken (1 to 64 characters): derived from the task token, so every
    /// invocation with that token sends the same one and Batch rejects a second job; never the token itself, nor the
    /// record key (which the job's marker shows).
    /// </summary>
    public static string ClientToken(string taskToken) =>
        Base64Url(SHA256.HashData(Encoding.UTF8.GetBytes("BatchSync client token\n" + taskToken)));

    /// <summary>The job parameter (a service job: the tag) that carries the marker.</summary>
    public const string MarkerParameter = "BatchSyncTask";

    /// <summary>The marker parameter's value: <c>&lt;namespace&gt;:&lt;task key&gt;</c>.</summary>
    public static string Marker(string ns, string taskKey) => $"{ns}:{taskKey}";

    /// <summary>Splits a marker into namespace and key; null when it is not one.</summary>
    public static (string Namespace, string Key)? ParseMarker(string? marker)
    {
        if (string.IsNullOrEmpty(marker))
        {
            return null;
        }
        var colon = marker.LastIndexOf(':');
        if (colon <= 0 || colon == marker.Length - 1)
        {
            return null;
        }
        return (marker[..colon], marker[(colon + 1)..]);
    }

    private static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
