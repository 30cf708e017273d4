using System.Text.Json;

namespace BatchSync.Domain;

/// <summary>The parts of an EventBridge "Step Functions Execution Status Change" event that decisions need.</summary>
public sealed record ExecutionStatusEvent(string ExecutionArn, string Status, long? StopDate, string? Account = null)
{
    public const string DetailType = "Step Functions Execution Status Change";

    /// <summary>The statuses that end an execution's tasks (SUCCEEDED ends them by answering, not by stopping).</summary>
    public static readonly IReadOnlySet<string> StoppedStatuses = new HashSet<string>(StringComparer.Ordinal) { "ABORTED", "TIMED_OUT", "FAILED" };

    public bool IsStop => StoppedStatuses.Contains(Status);

    /// <summary>Reads the event's detail: executionArn and status (strings), stopDate (epoch ms) when present.</summary>
    public static ExecutionStatusEvent Parse(JsonElement root)
    {
        var detail = root.TryGetProperty("detail", out var d) && d.ValueKind == JsonValueKind.Object ? d
            : throw new InvalidEventException("detail must be an object");
        var executionArn = detail.TryGetProperty("executionArn", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString()!
            : throw new InvalidEventException("detail.executionArn must be a string");
        var status = detail.TryGetProperty("status", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString()!
            : throw new InvalidEventException("detail.status must be a string");
        long? stopDate = null;
        if (detail.TryGetProperty("stopDate", out var stop) && stop.ValueKind != JsonValueKind.Null)
        {
            stopDate = stop.ValueKind == JsonValueKind.Number && stop.TryGetInt64(out var ms) ? ms
                : throw new InvalidEventException($"detail.stopDate must be epoch milliseconds, not {JsonInput.Describe(stop)}");
        }
        // The account EventBridge stamped: where the event came from (a spoke's forwarded event keeps its own).
        var account = root.TryGetProperty("account", out var acct) && acct.ValueKind == JsonValueKind.String ? acct.GetString() : null;
        return new ExecutionStatusEvent(executionArn, status, stopDate, account);
    }
}
