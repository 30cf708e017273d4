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

    public static async Task<JsonObject> BuildAsync(IBatchApi batch, BatchJob parent, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var summary = new JsonObject { ["Size"] = parent.ArraySize };
        if (parent.ArrayStatusSummary is { } counts)
        {
            summary["StatusSummary"] = JsonNode.Parse(counts.GetRawText());
        }
        var parentId = parent.JobId;
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bound.CancelAfter(timeout);
        try
        {
            var (failed, truncated) = await ListFailedAsync(batch, parentId, bound.Token).ConfigureAwait(false);
            var ordered = failed.Select(j => (Job: j, Index: IndexOf(j.ArrayIndex, j.JobId, parentId)))
                .OrderBy(j => j.Index ?? int.MaxValue).ThenBy(j => j.Job.JobId, StringComparer.Ordinal).ToList();
            summary["FailedCount"] = ordered.Count;
            summary["FailedIndices"] = new JsonArray([.. ordered.Take(MaxListedIndices).Where(j => j.Index is not null).Select(j => (JsonNode?)j.Index!.Value)]);
            if (ordered.Count > MaxListedIndices || truncated)
            {
                summary["FailedIndicesTruncated"] = true;
            }
            var first = ordered.Take(MaxChildren).Select(j => j.Job.JobId).ToList();
            if (first.Count > 0)
            {
                var children = new JsonArray();
                foreach (var child in (await batch.DescribeJobsAsync(first, bound.Token).ConfigureAwait(false)).OrderBy(c => first.IndexOf(c.JobId)))
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

    /// <summary>The parent's FAILED children, at most <see cref="MaxPages"/> pages; whether more were left unread.</summary>
    private static async Task<(List<JobSummary> Failed, bool Truncated)> ListFailedAsync(IBatchApi batch, string parentId, CancellationToken cancellationToken)
    {
        var failed = new List<JobSummary>();
        string? next = null;
        var pages = 0;
        do
        {
            var page = await batch.ListFailedChildrenAsync(parentId, PageSize, next, cancellationToken).ConfigureAwait(false);
            failed.AddRange(page.Jobs);
            next = page.NextToken;
            pages++;
        }
        while (next is not null && pages < MaxPages);
        return (failed, next is not null);
    }

    /// <summary>A child's index: ListJobs' <c>arrayProperties.index</c>, else the <c>:&lt;n&gt;</c> its id ends with.</summary>
    private static int? IndexOf(int? arrayIndex, string jobId, string parentId) =>
        arrayIndex ?? (jobId.StartsWith(parentId + ":", StringComparison.Ordinal)
            && int.TryParse(jobId.AsSpan(parentId.Length + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : null);

    private static JsonObject Child(BatchJob child, string parentId)
    {
        var c = FailureClassifier.Classify(child.Detail);
        var o = new JsonObject();
        if (c.ExitCode is { } code)
        {
            o["ExitCode"] = code;
        }
        var jobId = child.JobId;
        var index = IndexOf(child.ArrayIndex, jobId, parentId);
        if (index is not null)
        {
            o["Index"] = index;
        }
        o["JobId"] = jobId;
        o["Kind"] = c.Kind;
        if (c.LogStreamName is { } stream)
        {
            o["LogStreamName"] = stream;
            var (group, region, cloudWatch) = ConsoleLinks.LogLocation(child.Detail, c.Container);
            var arn = child.JobArn is { Length: > 0 } jobArn ? jobArn.Split(':') : [];
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
