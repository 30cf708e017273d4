using System.Text.Json;
using System.Text.Json.Nodes;
using BatchSync.Domain;
using BatchSync.Logging;

namespace BatchSync.Failures;

/// <summary>
/// For an array job's parent, when its task opted into <c>ArraySummary</c>: the children's counts by status (the
/// parent's own <c>arrayProperties.statusSummary</c>), the indices of the failed children (ListJobs by
/// <c>arrayJobId</c> and status FAILED, at most <see cref="MaxPages"/> pages), and the first
/// <see cref="MaxChildren"/> failed children named by <see cref="FailureClassifier"/> with their log link (one
/// DescribeJobs call). A few calls per parent, never one per child; bounded in time and size, and left out with a note
/// when Batch does not answer in time.
/// </summary>
public static class ArraySummary
{
    public const int MaxChildren = 5;
    public const int MaxListedIndices = 500;
    public const int MaxPages = 10;
    public const int PageSize = 1000;

    public const string ThresholdExceededError = "BatchJob.ToleratedFailureThresholdExceeded";

    /// <summary>
    /// Whether a FAILED array parent's failures are within the task's tolerance: null when the task set none or the
    /// summary could not be built (then the parent fails as it would have); else true (answer success) or false
    /// (fail with <see cref="ThresholdExceededError"/>). The failed count is the larger of the parent's own count and
    /// the children listed, and both limits, when given, must hold.
    /// </summary>
    public static bool? Tolerates(TaskOptions options, JsonObject summary)
    {
        if ((options.ToleratedFailureCount is null && options.ToleratedFailurePercentage is null) || summary["Omitted"] is not null
            || summary["FailedCount"] is not JsonValue listed || summary["Size"] is not JsonValue sized)
        {
            return null;
        }
        var failed = Math.Max((int)listed, summary["StatusSummary"]?["FAILED"] is JsonValue counted ? (int)counted : 0);
        var size = (int)sized;
        return (options.ToleratedFailureCount is not { } count || failed <= count)
            && (options.ToleratedFailurePercentage is not { } share || size == 0 || failed * 100.0 / size <= share);
    }

    /// <summary>An array parent: it has <c>arrayProperties.size</c> and no index of its own.</summary>
    public static bool IsArrayParent(JsonElement job) =>
        job.TryGetProperty("arrayProperties", out var a) && a.ValueKind == JsonValueKind.Object
        && a.TryGetProperty("size", out var size) && size.ValueKind == JsonValueKind.Number
        && !(a.TryGetProperty("index", out var index) && index.ValueKind == JsonValueKind.Number);

    public static async Task<JsonObject> BuildAsync(IBatchApi batch, JsonElement parent, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var array = parent.GetProperty("arrayProperties");
        var summary = new JsonObject { ["Size"] = array.GetProperty("size").GetInt32() };
        if (array.TryGetProperty("statusSummary", out var counts) && counts.ValueKind == JsonValueKind.Object)
        {
            summary["StatusSummary"] = JsonNode.Parse(counts.GetRawText());
        }
        var parentId = parent.GetProperty("jobId").GetString()!;
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bound.CancelAfter(timeout);
        try
        {
            var failed = new List<JobSummary>();
            string? next = null;
            var pages = 0;
            do
            {
                var request = new JsonObject { ["arrayJobId"] = parentId, ["jobStatus"] = "FAILED", ["maxResults"] = PageSize };
                if (next is not null)
                {
                    request["nextToken"] = next;
                }
                (var jobs, next) = await batch.ListJobsAsync(request, bound.Token).ConfigureAwait(false);
                failed.AddRange(jobs);
                pages++;
            }
            while (next is not null && pages < MaxPages);
            var ordered = failed.Select(j => (Job: j, Index: IndexOf(j, parentId)))
                .OrderBy(j => j.Index ?? int.MaxValue).ThenBy(j => j.Job.JobId, StringComparer.Ordinal).ToList();
            summary["FailedCount"] = ordered.Count;
            summary["FailedIndices"] = new JsonArray([.. ordered.Take(MaxListedIndices).Where(j => j.Index is not null).Select(j => (JsonNode?)j.Index!.Value)]);
            if (ordered.Count > MaxListedIndices || next is not null)
            {
                summary["FailedIndicesTruncated"] = true;
            }
            var first = ordered.Take(MaxChildren).Select(j => j.Job.JobId).ToList();
            if (first.Count > 0)
            {
                var children = new JsonArray();
                foreach (var child in (await batch.DescribeJobsAsync(first, bound.Token).ConfigureAwait(false))
                    .OrderBy(c => first.IndexOf(c.GetProperty("jobId").GetString()!)))
                {
                    children.Add(Child(child, parentId));
                }
                summary["FailedChildren"] = children;
            }
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            summary["Omitted"] = e is IServiceCallFailure { ErrorCode: { } code } ? $"the children could not be listed: {code}"
                : $"Batch did not list the children within {timeout.TotalMilliseconds:0} ms";
            Log.Warn("Array summary of job {JobId} left out: {Reason}", parentId, (string)summary["Omitted"]!);
        }
        return summary;
    }

    /// <summary>A child's index: ListJobs' <c>arrayProperties.index</c>, else the <c>:&lt;n&gt;</c> its id ends with.</summary>
    private static int? IndexOf(JobSummary child, string parentId) =>
        child.ArrayIndex ?? (child.JobId.StartsWith(parentId + ":", StringComparison.Ordinal)
            && int.TryParse(child.JobId.AsSpan(parentId.Length + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : null);

    private static JsonObject Child(JsonElement child, string parentId)
    {
        var c = FailureClassifier.Classify(child);
        var o = new JsonObject();
        if (c.ExitCode is { } code)
        {
            o["ExitCode"] = code;
        }
        var jobId = child.GetProperty("jobId").GetString()!;
        var index = child.TryGetProperty("arrayProperties", out var a) && a.ValueKind == JsonValueKind.Object && a.TryGetProperty("index", out var i) && i.TryGetInt32(out var n)
            ? n : IndexOf(new JobSummary(jobId, "", null, null), parentId);
        if (index is not null)
        {
            o["Index"] = index;
        }
        o["JobId"] = jobId;
        o["Kind"] = c.Kind;
        if (c.LogStreamName is { } stream)
        {
            o["LogStreamName"] = stream;
            var (group, region, cloudWatch) = ConsoleLinks.LogLocation(child, c.Container);
            var arn = child.TryGetProperty("jobArn", out var j) && j.ValueKind == JsonValueKind.String ? j.GetString()!.Split(':') : [];
            if (cloudWatch && arn.Length >= 6 && ConsoleLinks.LogStreamUrl(arn[1], region ?? arn[3], group, stream) is { } url)
            {
                o["LogUrl"] = url;
            }
        }
        if (c.Reason is { } reason)
        {
            o["Reason"] = reason;
        }
        return o;
    }
}
