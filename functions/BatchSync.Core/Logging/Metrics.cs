using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace BatchSync.Logging;

/// <summary>What one sweep found and did; a null total is one the sweep did not count, and is left out of the metrics.</summary>
public sealed record SweepTotals(
    int OpenTasks,
    double? OldestOpenTaskSeconds,
    int? LostOutcomesDelivered,
    int? OrphansFound,
    int? JobsTerminated,
    int? ChecksRecorded = null,
    int? ChecksLeftDue = null,
    int? CheckFailures = null);

/// <summary>
/// Metrics as CloudWatch embedded metric format (EMF) records, written through <see cref="Log"/>'s sink as one JSON
/// object each: CloudWatch Logs extracts them into metrics in <see cref="Namespace"/>, no API call needed. Field names
/// follow the EMF specification (<c>_aws.Timestamp</c>, <c>_aws.CloudWatchMetrics[].Namespace/Dimensions/Metrics</c>),
/// as Powertools' metrics writer does. Dimensions stay low-cardinality: the function, the job queue's name, the outcome.
/// </summary>
public static class Metrics
{
    public const string Namespace = "BatchSync";
    public const string FunctionDimension = "Function";
    public const string JobQueueDimension = "JobQueue";
    public const string OutcomeDimension = "Outcome";

    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>
    /// One job's task was answered: <c>Jobs</c> (1, to count by outcome), <c>QueueSeconds</c> (created to started),
    /// <c>RunSeconds</c> (started to stopped) and <c>Attempts</c>, by function, queue and outcome. Timings Batch did not
    /// report (a job that never started) are left out rather than written as zero.
    /// </summary>
    /// <param name="jobDetail">The job's DescribeJobs detail (Batch's wire names).</param>
    /// <param name="outcome">The job's final status when the task took the answer; otherwise what Step Functions said.</param>
    public static void JobAnswered(JsonElement jobDetail, string outcome)
    {
        var queue = QueueName(Text(jobDetail, "jobQueue")) ?? "unknown";
        var created = Millis(jobDetail, "createdAt");
        var started = Millis(jobDetail, "startedAt");
        var stopped = Millis(jobDetail, "stoppedAt");
        var values = new List<(string Name, string Unit, double Value)> { ("Jobs", "Count", 1) };
        if (created is { } c && started is { } s1 && s1 >= c)
        {
            values.Add(("QueueSeconds", "Seconds", (s1 - c) / 1000.0));
        }
        if (started is { } s2 && stopped is { } e && e >= s2)
        {
            values.Add(("RunSeconds", "Seconds", (e - s2) / 1000.0));
        }
        if (jobDetail.ValueKind == JsonValueKind.Object && jobDetail.TryGetProperty("attempts", out var attempts) && attempts.ValueKind == JsonValueKind.Array)
        {
            values.Add(("Attempts", "Count", attempts.GetArrayLength()));
        }
        Write([[FunctionDimension, OutcomeDimension], [FunctionDimension, JobQueueDimension, OutcomeDimension]],
            [(JobQueueDimension, queue), (OutcomeDimension, outcome)], values);
    }

    /// <summary>
    /// One sweep's totals: <c>OpenTasks</c>, <c>OldestOpenTaskSeconds</c>, <c>LostOutcomesDelivered</c>, <c>OrphansFound</c>,
    /// <c>JobsTerminated</c>, and what it left: <c>SweepChecksRecorded</c>, <c>SweepChecksLeftDue</c>, <c>SweepCheckFailures</c>, by function.
    /// </summary>
    public static void Sweep(SweepTotals totals)
    {
        var values = new List<(string Name, string Unit, double Value)> { ("OpenTasks", "Count", totals.OpenTasks) };
        Add(values, "OldestOpenTaskSeconds", "Seconds", totals.OldestOpenTaskSeconds);
        Add(values, "LostOutcomesDelivered", "Count", totals.LostOutcomesDelivered);
        Add(values, "OrphansFound", "Count", totals.OrphansFound);
        Add(values, "JobsTerminated", "Count", totals.JobsTerminated);
        Add(values, "SweepChecksRecorded", "Count", totals.ChecksRecorded);
        Add(values, "SweepChecksLeftDue", "Count", totals.ChecksLeftDue);
        Add(values, "SweepCheckFailures", "Count", totals.CheckFailures);
        Write([[FunctionDimension]], [], values);
    }

    /// <summary>A spoke role could not be assumed: <c>SpokeUnreachable</c> (1) by function and the spoke's account (the alarm sums it over accounts with a Metrics Insights query).</summary>
    public static void SpokeUnreachable(string account) =>
        Write([[FunctionDimension, AccountDimension]], [(AccountDimension, account)], [("SpokeUnreachable", "Count", 1)]);

    public const string AccountDimension = "Account";

    private static void Add(List<(string, string, double)> values, string name, string unit, double? value)
    {
        if (value is { } v)
        {
            values.Add((name, unit, v));
        }
    }

    private static void Write(string[][] dimensionSets, (string Name, string Value)[] dimensions, List<(string Name, string Unit, double Value)> values)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            writer.WriteStartObject();
            writer.WriteStartObject("_aws");
            writer.WriteNumber("Timestamp", Log.Clock.GetUtcNow().ToUnixTimeMilliseconds());
            writer.WriteStartArray("CloudWatchMetrics");
            writer.WriteStartObject();
            writer.WriteString("Namespace", Namespace);
            writer.WriteStartArray("Dimensions");
            foreach (var set in dimensionSets)
            {
                writer.WriteStartArray();
                foreach (var name in set)
                {
                    writer.WriteStringValue(name);
                }
                writer.WriteEndArray();
            }
            writer.WriteEndArray();
            writer.WriteStartArray("Metrics");
            foreach (var (name, unit, _) in values)
            {
                writer.WriteStartObject();
                writer.WriteString("Name", name);
                writer.WriteString("Unit", unit);
                writer.WriteEndObject();
            }
            writer.WriteEndArray();
            writer.WriteEndObject();
            writer.WriteEndArray();
            writer.WriteEndObject();
            writer.WriteString(FunctionDimension, Log.Environment("AWS_LAMBDA_FUNCTION_NAME") is { Length: > 0 } f ? f : "local");
            Log.WriteContext(writer, includeFunction: false);
            foreach (var (name, value) in dimensions)
            {
                writer.WriteString(name, value);
            }
            foreach (var (name, _, value) in values)
            {
                writer.WriteNumber(name, value);
            }
            writer.WriteEndObject();
        }
        Log.WriteRecord(buffer.WrittenSpan);
    }

    /// <summary>A queue's name from its ARN (<c>arn:...:job-queue/name</c>), or the value as it is.</summary>
    private static string? QueueName(string? queue)
    {
        if (queue is null)
        {
            return null;
        }
        var slash = queue.LastIndexOf('/');
        return queue.StartsWith("arn:", StringComparison.Ordinal) && slash >= 0 ? queue[(slash + 1)..] : queue;
    }

    private static string? Text(JsonElement detail, string name) =>
        detail.ValueKind == JsonValueKind.Object && detail.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static long? Millis(JsonElement detail, string name) =>
        detail.ValueKind == JsonValueKind.Object && detail.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var ms) ? ms : null;
}
