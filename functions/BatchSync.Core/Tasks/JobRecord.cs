using System.Security.Cryptography;
using System.Text;

namespace BatchSync.Tasks;

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

/// <summary>What BatchSync remembers about one task: its token and the job that answers it.</summary>
public sealed record JobRecord
{
    public required string TaskKey { get; init; }
    public required string TaskToken { get; init; }
    public required RecordStatus Status { get; init; }
    public string? JobId { get; init; }
    public string? JobArn { get; init; }
    public string? JobName { get; init; }
    /// <summary>The queue the job was submitted to (to find an orphaned job by name after a crash).</summary>
    public string? JobQueue { get; init; }
    /// <summary>The execution that owns the task (<c>$$.Execution.Id</c>), when the state machine passes it.</summary>
    public string? ExecutionArn { get; init; }
    public string? StateName { get; init; }
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

    public bool IsFinished => Status is RecordStatus.Succeeded or RecordStatus.Failed or RecordStatus.Closed;
}

/// <summary>
/// The record key for a task: SHA-256 of its token, base64url. The same token always gives the same key, so a retried
/// SubmitJob finds the first attempt's record; the key reveals nothing of the token, so it may ride on the job.
/// </summary>
public static class TaskKey
{
    public static string For(string taskToken) =>
        Base64Url(SHA256.HashData(Encoding.UTF8.GetBytes(taskToken)));

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
