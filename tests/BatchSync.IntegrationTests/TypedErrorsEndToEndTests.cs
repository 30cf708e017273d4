using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using BatchSync.IntegrationTests.Moto;

namespace BatchSync.IntegrationTests;

/// <summary>
/// Typed failure names through moto's Step Functions interpreter: a task that opted in ("BatchSync": {"TypedErrors":
/// true}) fails with the name the classifier gives, and the state's own Retry and Catch match it. moto cannot make a
/// job fail the way AWS does (its failing server fails every job without any reason), so the functions reach Batch
/// through <see cref="RewritingBatchProxy"/>, which serves moto's FAILED jobs with the latest attempt's status reason
/// of a real Spot reclaim (Fixtures/failed-jobs/host-terminated-adapted.json in the unit tests; SOURCES.md there).
/// </summary>
[Collection(MotoCollection.Name)]
public class TypedErrorsEndToEndTests(MotoFixture moto)
{
    /// <summary>Real: awslabs/ec2-spot-workshops, rendering-with-batch/aws-fis/fis-monitor.md (describe-jobs output).</summary>
    private const string HostTerminated = "Host EC2 (instance i-04b17daec78ef4a0b) terminated.";

    private const string Definition = """
        {
          "StartAt": "RunBatchJob",
          "States": {
            "RunBatchJob": {
              "Type": "Task",
              "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
              "Parameters": {
                "FunctionName": "${SubmitJobFunctionArn}",
                "Payload": {
                  "JobName": "spot-render",
                  "JobQueue": "${JobQueue}",
                  "JobDefinition": "${JobDefinition}",
                  "Parameters": { "InputFile.$": "$.inputFile" },
                  "BatchSync": { "TypedErrors": true, "Links": true },
                  "TaskToken.$": "$$.Task.Token",
                  "ExecutionArn.$": "$$.Execution.Id"
                }
              },
              "Retry": [ { "ErrorEquals": ["BatchJob.SpotInterrupted"], "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 1 } ],
              "Catch": [
                { "ErrorEquals": ["BatchJob.OutOfMemory"], "Next": "NeedsMoreMemory" },
                { "ErrorEquals": ["BatchJob.HostTerminated"], "ResultPath": "$.error", "Next": "Reclaimed" }
              ],
              "End": true
            },
            "NeedsMoreMemory": { "Type": "Fail", "Error": "NeedsMoreMemory" },
            "Reclaimed": { "Type": "Pass", "End": true }
          }
        }
        """;

    [Fact]
    public async Task A_reclaimed_job_fails_with_its_typed_name_and_the_matching_Catch_takes_it()
    {
        using var proxy = new RewritingBatchProxy(moto.FailingBatch.Endpoint, HostTerminated);
        var world = new AwsWorld(moto.FailingBatch, "ap-southeast-2");
        // Retry only Fargate Spot interruptions: a host loss is not one, so it goes to the second Catch.
        var executionArn = await StartAsync(world, "typed-catch", Definition);

        var answer = await RunTaskAsync(world, proxy, executionArn, 1);

        Assert.Equal("Failed", (string)answer["Action"]!);
        Assert.Equal(1, proxy.Rewritten);
        var execution = await world.WaitForExecutionAsync(executionArn, e => (string?)e["status"] != "RUNNING");
        Assert.Equal("SUCCEEDED", (string)execution["status"]!);
        var output = JsonNode.Parse((string)execution["output"]!)!;
        Assert.Equal("BatchJob.HostTerminated", (string)output["error"]!["Error"]!);
        Assert.Equal("s3://frames/0001.exr", (string)output["inputFile"]!);
        var history = await world.HistoryAsync(executionArn);
        Assert.Equal(1, history.Count(e => (string?)e!["type"] == "TaskScheduled"));
        Assert.Equal("BatchJob.HostTerminated", (string)history.Single(e => (string?)e!["type"] == "TaskFailed")!["taskFailedEventDetails"]!["error"]!);
    }

    [Fact]
    public async Task A_reclaimed_job_is_retried_by_a_Retry_on_its_typed_name()
    {
        using var proxy = new RewritingBatchProxy(moto.FailingBatch.Endpoint, HostTerminated);
        var world = new AwsWorld(moto.FailingBatch, "ap-northeast-2");
        var definition = Definition.Replace("\"ErrorEquals\": [\"BatchJob.SpotInterrupted\"]", "\"ErrorEquals\": [\"BatchJob.HostTerminated\", \"BatchJob.SpotInterrupted\"]");
        Assert.NotEqual(Definition, definition);
        var executionArn = await StartAsync(world, "typed-retry", definition);

        var answer = await RunTaskAsync(world, proxy, executionArn, 1);

        Assert.Equal("Failed", (string)answer["Action"]!);
        // The Retry (MaxAttempts 2) matched BatchJob.HostTerminated: the task is scheduled twice more, then the Catch
        // takes the execution to "Reclaimed". On AWS each retry has a new token, so a new job; moto reschedules with
        // the same token and fails each retry at once with the failure that token already got (DEVELOPERS.md).
        var execution = await world.WaitForExecutionAsync(executionArn, e => (string?)e["status"] != "RUNNING");
        Assert.Equal("SUCCEEDED", (string)execution["status"]!);
        var history = await world.HistoryAsync(executionArn);
        Assert.Equal(3, history.Count(e => (string?)e!["type"] == "TaskScheduled"));
        Assert.Equal(["BatchJob.HostTerminated", "BatchJob.HostTerminated", "BatchJob.HostTerminated"],
            history.Where(e => (string?)e!["type"] == "TaskFailed").Select(e => (string)e!["taskFailedEventDetails"]!["error"]!));
        Assert.Equal("BatchJob.HostTerminated", (string)JsonNode.Parse((string)execution["output"]!)!["error"]!["Error"]!);
    }

    private static async Task<string> StartAsync(AwsWorld world, string name, string definitionText)
    {
        var (queue, jobDefinition, role) = await world.CreateBatchAsync();
        await world.CreateTableFromTemplateAsync();
        var functionArn = await world.CreateStandInFunctionAsync("SubmitJob", role);
        var definition = definitionText.Replace("${SubmitJobFunctionArn}", functionArn).Replace("${JobQueue}", queue).Replace("${JobDefinition}", jobDefinition);
        var machine = await world.SfnAsync("CreateStateMachine", new JsonObject { ["name"] = name, ["definition"] = definition, ["roleArn"] = role });
        var started = await world.SfnAsync("StartExecution", new JsonObject
        {
            ["stateMachineArn"] = (string)machine["stateMachineArn"]!, ["input"] = """{"inputFile":"s3://frames/0001.exr"}""",
        });
        return (string)started["executionArn"]!;
    }

    /// <summary>Plays Lambda and EventBridge for the n-th scheduled task, the functions reaching Batch through the proxy.</summary>
    private static async Task<JsonObject> RunTaskAsync(AwsWorld world, RewritingBatchProxy proxy, string executionArn, int n)
    {
        world.ExportEnvironment();
        Environment.SetEnvironmentVariable("AWS_ENDPOINT_URL_BATCH", proxy.Endpoint);
        try
        {
            var payload = await ScheduledPayloadAsync(world, executionArn, n);
            var submitted = await AwsWorld.InvokeAsync(SamTemplate.LoadHandler("SubmitJobFunction"), payload);
            var evt = await world.JobStateChangeEventAsync((string)submitted["JobId"]!);
            Assert.Equal("FAILED", (string)evt["detail"]!["status"]!);
            var delivered = Assert.Single(await world.DeliverThroughRuleAsync([evt]));
            return await AwsWorld.InvokeAsync(SamTemplate.LoadHandler("JobStateChangeFunction"), delivered);
        }
        finally
        {
            Environment.SetEnvironmentVariable("AWS_ENDPOINT_URL_BATCH", null);
        }
    }

    /// <summary>The Lambda payload of the execution's n-th scheduled task (1-based), once it is scheduled.</summary>
    private static async Task<JsonObject> ScheduledPayloadAsync(AwsWorld world, string executionArn, int n)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            var scheduled = (await world.HistoryAsync(executionArn)).Where(e => (string?)e!["type"] == "TaskScheduled").ToList();
            if (scheduled.Count >= n)
            {
                var parameters = JsonNode.Parse((string)scheduled[n - 1]!["taskScheduledEventDetails"]!["parameters"]!)!;
                return parameters["Payload"]!.AsObject();
            }
            await Task.Delay(200);
        }
        throw new TimeoutException($"The execution never scheduled task {n}.");
    }
}

/// <summary>
/// A loopback HTTP proxy in front of moto's Batch that serves each FAILED job of a DescribeJobs answer as reclaimed:
/// the job's and its latest attempt's status reason become <c>reason</c>. Everything else passes through unchanged.
/// </summary>
public sealed class RewritingBatchProxy : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly HttpClient _http = new();
    private readonly string _target;
    private readonly string _reason;
    private int _rewritten;

    public RewritingBatchProxy(string target, string reason)
    {
        _target = target.TrimEnd('/');
        _reason = reason;
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        Endpoint = $"http://127.0.0.1:{port}";
        _listener.Prefixes.Add(Endpoint + "/");
        _listener.Start();
        _ = Task.Run(ServeAsync);
    }

    public string Endpoint { get; }

    /// <summary>How many FAILED jobs it has served rewritten.</summary>
    public int Rewritten => Volatile.Read(ref _rewritten);

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception) when (!_listener.IsListening)
            {
                return;
            }
            catch (HttpListenerException)
            {
                return;
            }
            _ = Task.Run(() => ForwardAsync(context));
        }
    }

    private async Task ForwardAsync(HttpListenerContext context)
    {
        try
        {
            using var body = new MemoryStream();
            await context.Request.InputStream.CopyToAsync(body);
            var request = new HttpRequestMessage(new HttpMethod(context.Request.HttpMethod), _target + context.Request.RawUrl)
            {
                Content = new ByteArrayContent(body.ToArray()),
            };
            foreach (var name in context.Request.Headers.AllKeys)
            {
                if (name is null || name.Equals("Host", StringComparison.OrdinalIgnoreCase) || name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                {
                    continue;
                }
                var value = context.Request.Headers[name]!;
                if (name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase))
                {
                    request.Content.Headers.TryAddWithoutValidation(name, value);
                }
                else
                {
                    request.Headers.TryAddWithoutValidation(name, value);
                }
            }
            using var response = await _http.SendAsync(request);
            var answer = await response.Content.ReadAsByteArrayAsync();
            if (response.IsSuccessStatusCode && context.Request.RawUrl?.TrimEnd('/').EndsWith("/v1/describejobs", StringComparison.OrdinalIgnoreCase) == true)
            {
                answer = Rewrite(answer);
            }
            context.Response.StatusCode = (int)response.StatusCode;
            context.Response.ContentType = response.Content.Headers.ContentType?.ToString() ?? "application/json";
            context.Response.ContentLength64 = answer.Length;
            await context.Response.OutputStream.WriteAsync(answer);
            context.Response.Close();
        }
        catch (Exception)
        {
            context.Response.Abort();
        }
    }

    private byte[] Rewrite(byte[] answer)
    {
        var root = JsonNode.Parse(answer)!;
        foreach (var job in root["jobs"]?.AsArray() ?? [])
        {
            if ((string?)job!["status"] != "FAILED")
            {
                continue;
            }
            job["statusReason"] = _reason;
            if (job["attempts"] is JsonArray { Count: > 0 } attempts)
            {
                attempts[^1]!["statusReason"] = _reason;
            }
            Interlocked.Increment(ref _rewritten);
        }
        return Encoding.UTF8.GetBytes(root.ToJsonString());
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        _http.Dispose();
    }
}

/// <summary>
/// The log tail's own CloudWatch Logs client against moto's CloudWatch Logs: the last lines of a seeded stream, and a
/// missing stream left out with its error. (moto's Step Functions drops SendTaskFailure's cause, so the cause that
/// carries the tail is checked in LogTailTests.)
/// </summary>
[Collection(MotoCollection.Name)]
public class LogTailAgainstMotoTests(MotoFixture moto)
{
    private static Task<JsonNode> LogsAsync(AwsWorld world, string operation, JsonObject body) =>
        world.CallAsync("logs", operation, "", "application/x-amz-json-1.1", body.ToJsonString(), $"Logs_20140328.{operation}");

    private static System.Text.Json.JsonElement FailedJob(string stream) => AwsWorld.Element(JsonNode.Parse($$$"""
        {"jobArn":"arn:aws:batch:ca-central-1:123456789012:job/j-1","jobId":"j-1","status":"FAILED","statusReason":"Essential container in task exited",
         "attempts":[{"statusReason":"Essential container in task exited","container":{"exitCode":1,"logStreamName":"{{{stream}}}"}}]}
        """)!);

    [Fact]
    public async Task The_tail_is_the_streams_last_lines_read_from_CloudWatch_Logs()
    {
        var world = new AwsWorld(moto.Server, "ca-central-1");
        const string Stream = "render/default/0f6b1a";
        await LogsAsync(world, "CreateLogGroup", new JsonObject { ["logGroupName"] = "/aws/batch/job" });
        await LogsAsync(world, "CreateLogStream", new JsonObject { ["logGroupName"] = "/aws/batch/job", ["logStreamName"] = Stream });
        var start = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 60_000;
        await LogsAsync(world, "PutLogEvents", new JsonObject
        {
            ["logGroupName"] = "/aws/batch/job", ["logStreamName"] = Stream,
            ["logEvents"] = new JsonArray([.. Enumerable.Range(1, 120).Select(i => (JsonNode?)new JsonObject { ["timestamp"] = start + i, ["message"] = $"frame {i} rendered" })]),
        });
        var job = FailedJob(Stream);
        var settings = BatchSync.Composition.FunctionHost.AnswersFor(world.Settings) with { Region = "ca-central-1" };

        var tail = await BatchSync.Failures.LogTail.ReadAsync(job, BatchSync.Failures.FailureClassifier.Classify(job), 100, settings, CancellationToken.None);

        var lines = tail["Lines"]!.AsArray().Select(l => (string)l!).ToList();
        Assert.Equal(Enumerable.Range(21, 100).Select(i => $"frame {i} rendered"), lines);
        Assert.Equal("/aws/batch/job", (string)tail["LogGroup"]!);
        Assert.Null(tail["Omitted"]);
    }

    [Fact]
    public async Task A_stream_CloudWatch_Logs_does_not_have_is_left_out_with_its_error()
    {
        var world = new AwsWorld(moto.Server, "ca-central-1");
        var job = FailedJob("render/default/never-written");
        var settings = BatchSync.Composition.FunctionHost.AnswersFor(world.Settings) with { Region = "ca-central-1" };

        var tail = await BatchSync.Failures.LogTail.ReadAsync(job, BatchSync.Failures.FailureClassifier.Classify(job), 10, settings, CancellationToken.None);

        Assert.Equal("GetLogEvents failed: ResourceNotFoundException", (string)tail["Omitted"]!);
    }
}

/// <summary>An array parent's summary read from moto's Batch: ListJobs by arrayJobId and status, then DescribeJobs.</summary>
[Collection(MotoCollection.Name)]
public class ArraySummaryAgainstMotoTests(MotoFixture moto)
{
    [Fact]
    public async Task A_failed_array_parent_lists_its_failed_children()
    {
        var world = new AwsWorld(moto.FailingBatch, "sa-east-1");
        var (queue, definition, _) = await world.CreateBatchAsync();
        var submitted = await world.BatchAsync("SubmitJob", new JsonObject
        {
            ["jobName"] = "frames", ["jobQueue"] = queue, ["jobDefinition"] = definition, ["arrayProperties"] = new JsonObject { ["size"] = 3 },
        });
        var parentId = (string)submitted["jobId"]!;
        var parent = (await world.Batch.DescribeJobDetailsAsync([parentId])).Single();
        Assert.True(BatchSync.Domain.BatchJob.Of(parent).IsArrayParent, parent.GetRawText());

        var summary = await BatchSync.Failures.ArraySummary.BuildAsync(world.Batch, BatchSync.Domain.BatchJob.Of(parent), TimeSpan.FromSeconds(10), CancellationToken.None);

        Assert.Null(summary["Omitted"]);
        Assert.Equal(3, (int)summary["Size"]!);
        Assert.Equal(3, (int)summary["FailedCount"]!);
        Assert.Equal("[0,1,2]", summary["FailedIndices"]!.ToJsonString());
        var children = summary["FailedChildren"]!.AsArray();
        Assert.Equal([0, 1, 2], children.Select(c => (int)c!["Index"]!));
        Assert.All(children, c => Assert.StartsWith(parentId + ":", (string)c!["JobId"]!));
        // moto's failed jobs carry no reason and no exit code: nothing more specific than BatchJob.Failed.
        Assert.All(children, c => Assert.Equal("BatchJob.Failed", (string)c!["Kind"]!));
    }
}
