using System.Text.Json;

namespace BatchSync.Domain;

// Batch's jobs in the domain's words: what the use cases ask of a job, read once from the wire by the adapter.

/// <summary>
/// Which of Batch's two kinds of job a task runs: a container job (SubmitJob, DescribeJobs, TerminateJob, events
/// "Batch Job State Change") or a service job — a SageMaker Training job queued through Batch (SubmitServiceJob,
/// DescribeServiceJob, TerminateServiceJob, events "Batch Service Job State Change").
/// </summary>
public enum JobKind
{
    Container,
    Service,
}

/// <summary>A job's identity, as SubmitJob answers it and a record notes it.</summary>
public sealed record SubmittedJob(string JobArn, string JobId, string JobName, JobKind Kind = JobKind.Container);

/// <summary>One ListJobs entry; an array child's index, its status reason and container outcome when Batch gives them.</summary>
public sealed record JobSummary(string JobId, string JobName, string? Status, long? CreatedAt, int? ArrayIndex = null, string? StatusReason = null, int? ExitCode = null, string? Reason = null);

/// <summary>One page of ListJobs: its entries and the token of the next page (null on the last).</summary>
public sealed record JobPage(IReadOnlyList<JobSummary> Jobs, string? NextToken);

/// <summary>
/// A job as DescribeJobs or DescribeServiceJob (or a job state event) gives it: the members the use cases read, read
/// once, and the wire detail itself (<see cref="Detail"/>: a JobDetail, or a DescribeServiceJob answer), from which
/// the answers are written byte for byte as natively.
/// </summary>
public sealed class BatchJob
{
    private BatchJob(JsonElement detail)
    {
        Detail = detail;
        JobId = Text(detail, "jobId");
        JobArn = Text(detail, "jobArn");
        JobName = Text(detail, "jobName");
        Status = detail.ValueKind == JsonValueKind.Object && detail.TryGetProperty("status", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
        CreatedAt = detail.ValueKind == JsonValueKind.Object && detail.TryGetProperty("createdAt", out var c) && c.TryGetInt64(out var at) ? at : null;
        Kind = KindOf(detail);
        Marker = MarkerOf(detail);
        if (detail.ValueKind == JsonValueKind.Object && detail.TryGetProperty("arrayProperties", out var array) && array.ValueKind == JsonValueKind.Object)
        {
            ArrayIndex = array.TryGetProperty("index", out var index) && index.ValueKind == JsonValueKind.Number && index.TryGetInt32(out var i) ? i : null;
            ArraySize = array.TryGetProperty("size", out var size) && size.ValueKind == JsonValueKind.Number && size.TryGetInt32(out var n) ? n : null;
            ArrayStatusSummary = array.TryGetProperty("statusSummary", out var counts) && counts.ValueKind == JsonValueKind.Object ? counts : null;
            IsArrayParent = array.TryGetProperty("size", out var sized) && sized.ValueKind == JsonValueKind.Number
                && !(array.TryGetProperty("index", out var indexed) && indexed.ValueKind == JsonValueKind.Number);
        }
    }

    /// <summary>The wire JobDetail (camelCase, as Batch sent it).</summary>
    public JsonElement Detail { get; }
    /// <summary>The job's id ("" when the detail has none).</summary>
    public string JobId { get; }
    public string JobArn { get; }
    public string JobName { get; }
    public string? Status { get; }
    public long? CreatedAt { get; }
    public JobKind Kind { get; }
    /// <summary>The BatchSync marker the job carries, if any (a container job's parameter, a service job's tag).</summary>
    public string? Marker { get; }
    /// <summary>An array child's index (<c>arrayProperties.index</c>).</summary>
    public int? ArrayIndex { get; }
    /// <summary>An array parent's size (<c>arrayProperties.size</c>).</summary>
    public int? ArraySize { get; }
    /// <summary>An array parent's children counted by status (<c>arrayProperties.statusSummary</c>), in wire form.</summary>
    public JsonElement? ArrayStatusSummary { get; }
    /// <summary>An array parent: it has <c>arrayProperties.size</c> and no index of its own.</summary>
    public bool IsArrayParent { get; }

    /// <summary>The job's identity, to note on a record.</summary>
    public SubmittedJob Identity => new(JobArn, JobId, JobName, Kind);

    /// <summary>Reads a JobDetail; <paramref name="detail"/> must outlive the view (clone it out of a document that goes away).</summary>
    public static BatchJob Of(JsonElement detail) => new(detail);

    /// <summary>
    /// The BatchSync marker a job's detail carries, if any: a container job's marker parameter, or a service job's
    /// marker tag (a service job has no parameters; DescribeServiceJob gives its tags, its events do not).
    /// </summary>
    public static string? MarkerOf(JsonElement detail) =>
        detail.ValueKind == JsonValueKind.Object
        && detail.TryGetProperty(KindOf(detail) == JobKind.Service ? "tags" : "parameters", out var parameters) && parameters.ValueKind == JsonValueKind.Object
        && parameters.TryGetProperty(TaskKey.MarkerParameter, out var marker) && marker.ValueKind == JsonValueKind.String
            ? marker.GetString()
            : null;

    /// <summary>A service job's detail has <c>serviceJobType</c> (required in DescribeServiceJob's answer, absent from a JobDetail).</summary>
    public static JobKind KindOf(JsonElement detail) =>
        detail.ValueKind == JsonValueKind.Object && detail.TryGetProperty("serviceJobType", out _) ? JobKind.Service : JobKind.Container;

    private static string Text(JsonElement detail, string name) =>
        detail.ValueKind == JsonValueKind.Object && detail.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";
}
