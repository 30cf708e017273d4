using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BatchSync.Domain;
using BatchSync.Logging;

namespace BatchSync.Failures;

/// <summary>
/// The last lines of a failed attempt's log stream, for tasks that opted into <c>LogTail</c>: read with one
/// GetLogEvents call bounded by <see cref="AnswerSettings.LogTailTimeout"/>, at most <see cref="MaxLineChars"/> per line
/// and <see cref="MaxBytes"/> in all (the latest lines kept). A read that is not allowed, fails or is slow never delays
/// or loses the answer: the tail is then left out, with a note saying why.
/// </summary>
public static class LogTail
{
    public const int MaxLineChars = 1_000;
    public const int MaxBytes = 8 * 1024;

    public static async Task<JsonObject> ReadAsync(JsonElement jobDetail, FailureClassification failure, int lines, AnswerSettings settings, CancellationToken cancellationToken)
    {
        if (Domain.BatchJob.KindOf(jobDetail) == Domain.JobKind.Service)
        {
            // Its streams are SageMaker's, named by the training job and instance, found only by listing the group.
            return new JsonObject { ["Omitted"] = $"a service job logs to its SageMaker training job's streams in {ConsoleLinks.TrainingJobLogGroup} (see the TrainingJobLogs link); BatchSync reads no tail of them" };
        }
        if (failure.LogStreamName is not { } stream)
        {
            return new JsonObject { ["Omitted"] = "the failed attempt has no log stream" };
        }
        var (group, region, cloudWatch) = ConsoleLinks.LogLocation(jobDetail, failure.Container);
        var tail = new JsonObject { ["LogGroup"] = group, ["LogStreamName"] = stream };
        string? omitted = null;
        if (!cloudWatch)
        {
            omitted = "the container does not log to CloudWatch Logs (awslogs)";
        }
        else if (!settings.LogGroups.Any(allowed => allowed.EndsWith('*') ? group.StartsWith(allowed[..^1], StringComparison.Ordinal) : allowed == group))
        {
            omitted = $"log group {group} is not one this stack may read (stack parameter LogTailLogGroups)";
        }
        else if (region is not null && settings.Region is not null && region != settings.Region)
        {
            omitted = $"the log is in {region}, this stack in {settings.Region}";
        }
        else if (settings.Logs is not { } logs)
        {
            omitted = "no CloudWatch Logs client";
        }
        else
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(settings.LogTailTimeout);
            try
            {
                var read = await logs.GetLastLinesAsync(group, stream, lines, timeout.Token).ConfigureAwait(false);
                tail["Lines"] = Fit(read);
                return tail;
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                omitted = e is IServiceCallFailure { ErrorCode: { } code } ? $"GetLogEvents failed: {code}"
                    : timeout.IsCancellationRequested || e is IServiceCallFailure { BudgetSpent: false } or TimeoutException or OperationCanceledException
                        ? $"no answer from CloudWatch Logs within {settings.LogTailTimeout.TotalMilliseconds:0} ms"
                        : $"GetLogEvents failed: {e.GetType().Name}";
                Log.Warn("Log tail of job {JobId} left out: {Reason}", jobDetail.TryGetProperty("jobId", out var id) ? id.GetString() : null, omitted);
            }
        }
        tail["Omitted"] = omitted;
        return tail;
    }

    /// <summary>The latest lines within the byte cap, each clipped, oldest first.</summary>
    public static JsonArray Fit(IReadOnlyList<string> lines)
    {
        var kept = new List<string>();
        var bytes = 0;
        for (var i = lines.Count - 1; i >= 0; i--)
        {
            var line = lines[i].TrimEnd('\n', '\r');
            if (line.Length > MaxLineChars)
            {
                line = line[..(MaxLineChars - 1)] + "…";
            }
            var size = Encoding.UTF8.GetByteCount(line);
            if (bytes + size > MaxBytes)
            {
                break;
            }
            bytes += size;
            kept.Add(line);
        }
        kept.Reverse();
        return new JsonArray([.. kept.Select(l => (JsonNode?)JsonValue.Create(l))]);
    }
}
