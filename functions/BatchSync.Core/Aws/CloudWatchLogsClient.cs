using System.Text.Json;
using System.Text.Json.Nodes;
using BatchSync.Domain;

namespace BatchSync.Aws;

/// <summary>
/// CloudWatch Logs over awsJson1_1 (POST / with X-Amz-Target: Logs_20140328.&lt;Operation&gt;), as the official model
/// logs-2014-03-28 describes it (botocore data/logs/2014-03-28). GetLogEvents with startFromHead=false reads the
/// stream's latest events.
/// </summary>
public sealed class CloudWatchLogsClient(AwsTransport transport) : ILogsApi
{
    public const string ServiceName = "AWSLogs";

    /// <summary>Endpoint from AWS_ENDPOINT_URL_CLOUDWATCH_LOGS (the SDKs' service id "CloudWatch Logs"), else AWS_ENDPOINT_URL.</summary>
    public static CloudWatchLogsClient Create(AwsSettings settings, RetryPolicy? retry = null) =>
        new(AwsTransport.Create(settings, "CLOUDWATCH_LOGS", "logs", "logs", ServiceName, retry));

    public async Task<IReadOnlyList<string>> GetLastLinesAsync(string logGroupName, string logStreamName, int limit, CancellationToken cancellationToken = default)
    {
        var request = new JsonObject
        {
            ["logGroupName"] = logGroupName, ["logStreamName"] = logStreamName, ["limit"] = limit, ["startFromHead"] = false,
        };
        var body = await transport.SendAsync("GetLogEvents", "", "application/x-amz-json-1.1", JsonText.ToUtf8(request), Idempotency.Safe,
            new Dictionary<string, string> { ["X-Amz-Target"] = "Logs_20140328.GetLogEvents" }, cancellationToken).ConfigureAwait(false);
        using var doc = JsonDocument.Parse(body);
        var lines = new List<(long At, string Message)>();
        if (doc.RootElement.TryGetProperty("events", out var events) && events.ValueKind == JsonValueKind.Array)
        {
            foreach (var e in events.EnumerateArray())
            {
                if (e.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String)
                {
                    lines.Add((e.TryGetProperty("timestamp", out var t) && t.TryGetInt64(out var at) ? at : 0, m.GetString()!));
                }
            }
        }
        // The model leaves the order of a backward read open: put the lines in time order (stable for equal times).
        return [.. lines.OrderBy(l => l.At).Select(l => l.Message)];
    }
}
