using System.Text.Json;
using BatchSync.Logging;

namespace BatchSync.Tests;

/// <summary>
/// The exact records our log and metric lines become once the managed runtime's Console.Out (<see cref="LambdaConsole"/>)
/// has them: one JSON object each, our fields at top level, never the token.
/// </summary>
[Collection(LogCapture.Collection)]
public class StructuredOutputTests
{
    private const string TraceId = "Root=1-6744f0b2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=0";
    private const string ExecutionArn = "arn:aws:states:us-east-1:123456789012:execution:nightly:run-1";
    private static readonly DateTimeOffset Now = new(2026, 3, 4, 5, 6, 7, 89, TimeSpan.Zero);

    private static LambdaConsole Run(Action action, string function = "BatchSync-JobStateChange", string? logLevel = null)
    {
        var console = new LambdaConsole();
        var (sink, environment, clock) = (Log.Sink, Log.Environment, Log.Clock);
        Log.Sink = console;
        Log.Environment = name => name switch
        {
            "AWS_LAMBDA_FUNCTION_NAME" => function,
            "_X_AMZN_TRACE_ID" => TraceId,
            "AWS_LAMBDA_LOG_LEVEL" => logLevel,
            _ => null,
        };
        Log.Clock = new FixedClock(Now);
        try
        {
            action();
        }
        finally
        {
            (Log.Sink, Log.Environment, Log.Clock) = (sink, environment, clock);
        }
        return console;
    }

    [Fact]
    public void A_log_line_is_one_record_holding_one_json_object_with_our_fields_at_top_level()
    {
        var console = Run(() =>
        {
            using (Log.Correlate("key-1", "job-1", ExecutionArn))
            {
                Log.Info("Job {JobId} {Status}: Step Functions replied {Reply}", "job-1", "SUCCEEDED", "Accepted");
            }
            Log.Warn("Refused {Kind} callback for job {JobId}: {Reason}", "Result", "job-2", "no such job");
        });

        Assert.Equal(0, console.FormattedLines);
        Assert.Equal(
        [
            """{"timestamp":"2026-03-04T05:06:07.089Z","level":"INFO","function":"BatchSync-JobStateChange","traceId":"Root=1-6744f0b2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=0","message":"Job job-1 SUCCEEDED: Step Functions replied Accepted","messageTemplate":"Job {JobId} {Status}: Step Functions replied {Reply}","JobId":"job-1","Status":"SUCCEEDED","Reply":"Accepted","TaskKey":"key-1","ExecutionArn":"arn:aws:states:us-east-1:123456789012:execution:nightly:run-1"}""" + "\n",
            // Outside the correlation scope the keys are gone again.
            """{"timestamp":"2026-03-04T05:06:07.089Z","level":"WARN","function":"BatchSync-JobStateChange","traceId":"Root=1-6744f0b2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=0","message":"Refused Result callback for job job-2: no such job","messageTemplate":"Refused {Kind} callback for job {JobId}: {Reason}","Kind":"Result","JobId":"job-2","Reason":"no such job"}""" + "\n",
        ], console.Records);
    }

    [Fact]
    public void Records_below_the_functions_log_level_are_not_written_but_metrics_always_are()
    {
        var detail = JsonDocument.Parse("""{"jobQueue":"q","attempts":[]}""").RootElement;
        var console = Run(() =>
        {
            Log.Info("Job {JobId} started", "job-1");
            Log.Warn("Job {JobId} slow", "job-1");
            Log.Error(null, "Job {JobId} broke", "job-1");
            Metrics.JobAnswered(detail, "FAILED");
        }, logLevel: "WARN");
        Assert.Equal(["WARN", "ERROR", null], console.Records.Select(r => JsonDocument.Parse(r).RootElement.TryGetProperty("level", out var l) ? l.GetString() : null));
        Assert.True(JsonDocument.Parse(console.Records[2]).RootElement.TryGetProperty("_aws", out _));
    }

    [Fact]
    public void An_error_keeps_its_stack_and_its_causes_in_the_same_record()
    {
        var console = Run(() =>
        {
            try
            {
                ThrowWrapped();
            }
            catch (Exception e)
            {
                Log.Error(e, "{Function} failed: {ErrorName}", "Callback", "BatchSync.InternalError");
            }
        });

        var record = Assert.Single(console.Records);
        Assert.EndsWith("}\n", record);
        Assert.DoesNotContain('\n', record.TrimEnd('\n'));
        var root = JsonDocument.Parse(record).RootElement;
        Assert.Equal("ERROR", root.GetProperty("level").GetString());
        Assert.Equal("InvalidOperationException", root.GetProperty("errorType").GetString());
        Assert.Equal("outer", root.GetProperty("errorMessage").GetString());
        var stack = root.GetProperty("stackTrace").EnumerateArray().Select(l => l.GetString()!).ToList();
        Assert.Contains(stack, l => l.StartsWith("at ") && l.Contains(nameof(ThrowWrapped)));
        Assert.Contains(stack, l => l.StartsWith("at ") && l.Contains(nameof(ThrowInner)));
        Assert.Contains("--- caused by System.TimeoutException: inner", stack);
    }

    private static void ThrowInner() => throw new TimeoutException("inner");

    private static void ThrowWrapped()
    {
        try
        {
            ThrowInner();
        }
        catch (Exception e)
        {
            throw new InvalidOperationException("outer", e);
        }
    }

    [Fact]
    public void A_job_metric_record_is_embedded_metric_format_computed_from_the_jobs_own_times()
    {
        // A real SUCCEEDED event (Fixtures/SOURCES.md): createdAt 1760707294698, startedAt 1760707430919,
        // stoppedAt 1760707731125, one attempt, queue arn:...:job-queue/batch-job-queue-dev.
        var detail = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "batch-events", "succeeded-ecs-properties.json")))
            .RootElement.GetProperty("detail");
        var console = Run(() => Metrics.JobAnswered(detail, "SUCCEEDED"));

        Assert.Equal(0, console.FormattedLines);
        var record = Assert.Single(console.Records);
        Assert.Equal(
            """{"_aws":{"Timestamp":1772600767089,"CloudWatchMetrics":[{"Namespace":"BatchSync","Dimensions":[["Function","Outcome"],["Function","JobQueue","Outcome"]],"Metrics":[{"Name":"Jobs","Unit":"Count"},{"Name":"QueueSeconds","Unit":"Seconds"},{"Name":"RunSeconds","Unit":"Seconds"},{"Name":"Attempts","Unit":"Count"}]}]},"Function":"BatchSync-JobStateChange","traceId":"Root=1-6744f0b2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=0","JobQueue":"batch-job-queue-dev","Outcome":"SUCCEEDED","Jobs":1,"QueueSeconds":136.221,"RunSeconds":300.206,"Attempts":1}""" + "\n",
            record);
        EmbeddedMetricFormat.AssertValid(record);
    }

    [Fact]
    public void A_job_that_never_started_reports_no_timings_rather_than_zero()
    {
        var detail = JsonDocument.Parse("""{"jobId":"j","status":"FAILED","jobQueue":"q","createdAt":1000,"attempts":[]}""").RootElement;
        var console = Run(() => Metrics.JobAnswered(detail, "FAILED"));
        var root = JsonDocument.Parse(Assert.Single(console.Records)).RootElement;
        EmbeddedMetricFormat.AssertValid(console.Records[0]);
        Assert.False(root.TryGetProperty("QueueSeconds", out _));
        Assert.False(root.TryGetProperty("RunSeconds", out _));
        Assert.Equal(0, root.GetProperty("Attempts").GetInt32());
        Assert.Equal("q", root.GetProperty("JobQueue").GetString());
    }

    [Fact]
    public void A_sweep_metric_record_leaves_out_totals_the_sweep_did_not_count()
    {
        var console = Run(() => Metrics.Sweep(new SweepTotals(7, OldestOpenTaskSeconds: 3600.5, LostOutcomesDelivered: 2, OrphansFound: null, JobsTerminated: 1)),
            function: "BatchSync-Reconcile");
        var record = Assert.Single(console.Records);
        Assert.Equal(
            """{"_aws":{"Timestamp":1772600767089,"CloudWatchMetrics":[{"Namespace":"BatchSync","Dimensions":[["Function"]],"Metrics":[{"Name":"OpenTasks","Unit":"Count"},{"Name":"OldestOpenTaskSeconds","Unit":"Seconds"},{"Name":"LostOutcomesDelivered","Unit":"Count"},{"Name":"JobsTerminated","Unit":"Count"}]}]},"Function":"BatchSync-Reconcile","traceId":"Root=1-6744f0b2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=0","OpenTasks":7,"OldestOpenTaskSeconds":3600.5,"LostOutcomesDelivered":2,"JobsTerminated":1}""" + "\n",
            record);
        EmbeddedMetricFormat.AssertValid(record);
    }

    [Fact]
    public async Task Every_record_of_a_whole_flow_is_one_json_object_without_the_token()
    {
        const string token = "AQCEAAAAKgAAAAMAAAAAAAAAAsecret-token-never-logged";
        var world = new FakeWorld();
        var console = new LambdaConsole();
        var previous = Log.Sink;
        Log.Sink = console;
        try
        {
            await world.Submitter().SubmitAsync(Fixtures.Utf8($$"""{"JobName":"j","JobQueue":"q","JobDefinition":"d","TaskToken":"{{token}}","ExecutionArn":"{{ExecutionArn}}"}"""));
            var marker = Domain.TaskKey.Marker(FakeWorld.Namespace, Domain.TaskKey.For(token));
            await world.Callbacks().HandleAsync(Fixtures.Utf8("""{"JobId":"job-1","Heartbeat":true}"""));
            await world.Events().HandleAsync(FakeWorld.Event("job-1", "RUNNING", marker));
            var succeeded = FakeWorld.Event("job-1", "SUCCEEDED", marker, ""","jobQueue":"arn:aws:batch:us-east-1:123456789012:job-queue/q","startedAt":5,"stoppedAt":9,"attempts":[{}]""");
            world.Batch.Jobs["job-1"] = FakeWorld.Detail(succeeded);
            await world.Events().HandleAsync(succeeded);
        }
        finally
        {
            Log.Sink = previous;
        }

        Assert.Equal(0, console.FormattedLines);
        Assert.NotEmpty(console.Records);
        foreach (var record in console.Records)
        {
            Assert.EndsWith("\n", record);
            Assert.DoesNotContain('\n', record[..^1]);
            Assert.Equal(JsonValueKind.Object, JsonDocument.Parse(record).RootElement.ValueKind);
            Assert.DoesNotContain("secret-token", record);
        }
        var roots = console.Records.Select(r => JsonDocument.Parse(r).RootElement).ToList();
        // The reply to the answer carries the task's correlation keys; the metric record is valid EMF counted from this job's times.
        var answered = Assert.Single(roots, r => r.TryGetProperty("Reply", out var a) && a.GetString() == "Accepted");
        Assert.Equal(Domain.TaskKey.For(token), answered.GetProperty("TaskKey").GetString());
        Assert.Equal(ExecutionArn, answered.GetProperty("ExecutionArn").GetString());
        var submitted = Assert.Single(roots, r => r.TryGetProperty("messageTemplate", out var t) && t.GetString()!.StartsWith("Submitted job"));
        Assert.Equal(ExecutionArn, submitted.GetProperty("ExecutionArn").GetString());
        var metric = Assert.Single(console.Records, r => r.StartsWith("""{"_aws":"""));
        EmbeddedMetricFormat.AssertValid(metric);
        var values = JsonDocument.Parse(metric).RootElement;
        Assert.Equal("SUCCEEDED", values.GetProperty("Outcome").GetString());
        Assert.Equal("q", values.GetProperty("JobQueue").GetString());
        Assert.Equal(0.004, values.GetProperty("QueueSeconds").GetDouble());
        Assert.Equal(0.004, values.GetProperty("RunSeconds").GetDouble());
    }
}

/// <summary>
/// The rules of the CloudWatch embedded metric format specification
/// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html),
/// checked independently of our writer.
/// </summary>
public static class EmbeddedMetricFormat
{
    public static void AssertValid(string record)
    {
        var root = JsonDocument.Parse(record).RootElement;
        Assert.Equal(JsonValueKind.Object, root.ValueKind);
        var aws = root.GetProperty("_aws");
        Assert.Equal(JsonValueKind.Number, aws.GetProperty("Timestamp").ValueKind);
        var directives = aws.GetProperty("CloudWatchMetrics");
        Assert.Equal(JsonValueKind.Array, directives.ValueKind);
        foreach (var directive in directives.EnumerateArray())
        {
            var ns = directive.GetProperty("Namespace").GetString()!;
            Assert.InRange(ns.Length, 1, 255);
            foreach (var set in directive.GetProperty("Dimensions").EnumerateArray())
            {
                Assert.InRange(set.GetArrayLength(), 0, 30);
                foreach (var name in set.EnumerateArray())
                {
                    // A dimension's value is a top-level string member of the same name.
                    Assert.Equal(JsonValueKind.String, root.GetProperty(name.GetString()!).ValueKind);
                }
            }
            var metrics = directive.GetProperty("Metrics");
            Assert.InRange(metrics.GetArrayLength(), 1, 100);
            foreach (var metric in metrics.EnumerateArray())
            {
                var name = metric.GetProperty("Name").GetString()!;
                Assert.InRange(name.Length, 1, 1024);
                Assert.Contains(metric.GetProperty("Unit").GetString(), new[] { "Seconds", "Count", "Milliseconds", "Bytes", "None" });
                Assert.Equal(JsonValueKind.Number, root.GetProperty(name).ValueKind);
            }
        }
    }
}
