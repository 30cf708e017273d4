using System.Text.Json;

namespace BatchSync.Domain;

/// <summary>
/// The parts of an EventBridge "Batch Job State Change" or "Batch Service Job State Change" event that decisions need,
/// plus its detail (a JobDetail; for a service job, DescribeServiceJob's answer without tags and payload).
/// </summary>
public sealed record JobStateEvent(string JobId, string Status, string? Marker, JsonElement Detail, JobKind Kind = JobKind.Container)
{
    public const string DetailType = "Batch Job State Change";
    public const string ServiceDetailType = "Batch Service Job State Change";
    public const string Source = "aws.batch";

    public bool IsTerminal => JobStatus.IsFinal(Status);

    /// <summary>
    /// Reads an event. Without <paramref name="copyDetail"/>, Detail points into <paramref name="root"/>'s document,
    /// which must then stay undisposed while the event is used (saves copying the JobDetail on the hot path).
    /// </summary>
    public static JobStateEvent Parse(JsonElement root, bool copyDetail)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidEventException($"the event must be a JSON object, not {JsonInput.Describe(root)}");
        }
        var kind = root.TryGetProperty("detail-type", out var type) && type.ValueKind == JsonValueKind.String
            ? type.GetString() switch { DetailType => JobKind.Container, ServiceDetailType => JobKind.Service, _ => (JobKind?)null }
            : null;
        if (kind is null)
        {
            throw new InvalidEventException($"detail-type must be \"{DetailType}\" or \"{ServiceDetailType}\"");
        }
        if (!root.TryGetProperty("source", out var source) || source.ValueKind != JsonValueKind.String || source.GetString() != Source)
        {
            throw new InvalidEventException($"source must be \"{Source}\"");
        }
        if (!root.TryGetProperty("detail", out var detail) || detail.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidEventException("detail must be an object");
        }
        var jobId = RequiredString(detail, "jobId");
        var status = RequiredString(detail, "status");
        // A service job's event carries no tags, so no marker: its record is found by the job's id.
        return new JobStateEvent(jobId, status, kind == JobKind.Service ? null : MarkerOf(detail), copyDetail ? detail.Clone() : detail, kind.Value);
    }

    /// <summary>The BatchSync marker parameter a JobDetail carries, if any.</summary>
    public static string? MarkerOf(JsonElement jobDetail) => BatchJob.MarkerOf(jobDetail);

    /// <summary>The job the event is about, as a view of its detail (which must outlive it).</summary>
    public BatchJob Job => BatchJob.Of(Detail);

    private static string RequiredString(JsonElement detail, string name) =>
        detail.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 } s
            ? s
            : throw new InvalidEventException($"detail.{name} must be a non-empty string");
}
