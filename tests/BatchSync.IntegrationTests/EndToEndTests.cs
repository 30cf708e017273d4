using System.Text.Json.Nodes;
using BatchSync.IntegrationTests.Moto;
using BatchSync.Domain;

namespace BatchSync.IntegrationTests;

/// <summary>
/// The README's state machine, run by moto's Step Functions engine. The test plays the Lambda service and Batch's
/// event source: it reads the task token from the execution history, invokes the handlers (loaded by the handler
/// strings in template.yaml), builds the Batch event from DescribeJobs, and routes it through the template's rule.
/// </summary>
[Collection(MotoCollection.Name)]
public class EndToEndTests(MotoFixture moto)
{
    private static readonly JsonObject ExecutionInput = new() { ["inputFile"] = "s3://reports/2026-11-24.csv", ["date"] = "2026-11-24" };

    internal static async Task<(string ExecutionArn, string SubmitJobArn)> StartReadmeExampleAsync(AwsWorld world, string? definitionText = null)
    {
        var (queue, definition, role) = await world.CreateBatchAsync();
        await world.CreateTableFromTemplateAsync();
        var functionArn = await world.CreateStandInFunctionAsync("SubmitJob", role);
        definitionText ??= File.ReadAllText(Path.Combine(SamTemplate.RepoRoot, "examples", "state-machine.asl.json"));
        definitionText = definitionText.Replace("${SubmitJobFunctionArn}", functionArn).Replace("${JobQueue}", queue).Replace("${JobDefinition}", definition);
        var machine = await world.SfnAsync("CreateStateMachine", new JsonObject { ["name"] = "readme-example", ["definition"] = definitionText, ["roleArn"] = role });
        var execution = await world.SfnAsync("StartExecution", new JsonObject { ["stateMachineArn"] = (string)machine["stateMachineArn"]!, ["input"] = ExecutionInput.ToJsonString() });
        return ((string)execution["executionArn"]!, functionArn);
    }

    internal static async Task<(JsonObject Submitted, JsonObject Event)> SubmitAndBuildEventAsync(AwsWorld world, string executionArn)
    {
        var payload = await world.ScheduledPayloadAsync(executionArn);
        Assert.False(string.IsNullOrEmpty((string?)payload["TaskToken"]));
        world.ExportEnvironment();
        var submitted = await AwsWorld.InvokeAsync(SamTemplate.LoadHandler("SubmitJobFunction"), payload);
        var jobId = (string)submitted["JobId"]!;
        return (submitted, await world.JobStateChangeEventAsync(jobId));
    }

    [Fact]
    public async Task A_succeeding_job_ends_the_execution_with_the_native_output()
    {
        var logs = new StringWriter();
        var previous = BatchSync.Logging.Log.Sink;
        BatchSync.Logging.Log.Sink = logs;
        try
        {
            await SucceedingJobAsync(logs);
        }
        finally
        {
            BatchSync.Logging.Log.Sink = previous;
        }
    }

    private async Task SucceedingJobAsync(StringWriter logs)
    {
        var world = new AwsWorld(moto.Server, "us-west-1");
        var (executionArn, _) = await StartReadmeExampleAsync(world);
        var (submitted, evt) = await SubmitAndBuildEventAsync(world, executionArn);
        Assert.Equal("SUCCEEDED", (string)evt["detail"]!["status"]!);

        // The rule in template.yaml delivers the job's event, and not a child's nor another stack's.
        var child = world.BuildEvent((JsonObject)evt["detail"]!.DeepClone());
        child["detail"]!["jobId"] = (string)submitted["JobId"]! + ":0";
        var node = world.BuildEvent((JsonObject)evt["detail"]!.DeepClone());
        node["detail"]!["jobId"] = (string)submitted["JobId"]! + "#1";
        var foreign = world.BuildEvent((JsonObject)evt["detail"]!.DeepClone());
        foreign["detail"]!["parameters"]![TaskKey.MarkerParameter] = "another-stack:" + TaskKey.For("x");
        var delivered = await world.DeliverThroughRuleAsync([child, evt, node, foreign]);
        var only = Assert.Single(delivered);
        Assert.Equal((string)submitted["JobId"]!, (string)only["detail"]!["jobId"]!);

        var answer = await AwsWorld.InvokeAsync(SamTemplate.LoadHandler("JobStateChangeFunction"), only);
        Assert.Equal("Succeeded", (string)answer["Action"]!);

        var execution = await world.WaitForExecutionAsync(executionArn, e => (string?)e["status"] != "RUNNING");
        Assert.Equal("SUCCEEDED", (string)execution["status"]!);
        var output = JsonNode.Parse((string)execution["output"]!)!;
        Assert.Equal("s3://reports/2026-11-24.csv", (string)output["inputFile"]!);
        var job = output["job"]!;
        // The output read back through the model's wire names is the event's JobDetail (less nulls and the marker). moto
        // appends another AWS_BATCH_JOB_ID to the environment on every DescribeJobs: compare without it.
        var detail = WithoutNullMembers(evt["detail"]!.DeepClone())!;
        detail["parameters"]!.AsObject().Remove(TaskKey.MarkerParameter);
        var expected = WithoutMotoJobIdVariable(detail, "container", "environment", "name");
        var readBack = WithoutMotoJobIdVariable(WireFromNative(job, BatchSync.Model.BatchShapes.Instance["JobDetail"])!, "container", "environment", "name");
        Assert.True(JsonNode.DeepEquals(expected, readBack), $"expected {expected.ToJsonString()}\nread back {readBack.ToJsonString()}");
        var names = job.AsObject().Select(p => p.Key).ToList();
        Assert.Equal(names.Order(StringComparer.Ordinal), names);
        Assert.Equal("SUCCEEDED", (string)job["Status"]!);
        Assert.Equal("nightly-report", (string)job["JobName"]!);
        Assert.Equal("s3://reports/2026-11-24.csv", (string)job["Parameters"]!["InputFile"]!);
        Assert.Null(job["Parameters"]![TaskKey.MarkerParameter]);
        var environment = job["Container"]!["Environment"]!.AsArray();
        Assert.Contains(environment, e => (string)e!["Name"]! == "REPORT_DATE" && (string)e["Value"]! == "2026-11-24");
        Assert.Contains(environment, e => (string)e!["Name"]! == "MANAGED_BY_AWS" && (string)e["Value"]! == "STARTED_BY_STEP_FUNCTIONS");

        // A duplicate delivery changes nothing.
        var again = await AwsWorld.InvokeAsync(SamTemplate.LoadHandler("JobStateChangeFunction"), only);
        Assert.Equal("Ignored", (string)again["Action"]!);
        var record = await world.Store.FindByJobIdAsync((string)submitted["JobId"]!);
        Assert.Equal(RecordStatus.Succeeded, record!.Status);

        // The token stayed in DynamoDB: not in the logs, the job (parameters, environment), the answers or the output.
        var token = record.TaskToken;
        Assert.Contains("Submitted job", logs.ToString());
        var described = (await world.Batch.DescribeJobDetailsAsync([(string)submitted["JobId"]!])).Single().GetRawText();
        foreach (var text in new[] { logs.ToString(), described, submitted.ToJsonString(), answer.ToJsonString(), (string)execution["output"]! })
        {
            Assert.DoesNotContain(token, text);
        }
    }

    [Fact]
    public async Task A_failing_job_fails_the_execution_with_States_TaskFailed()
    {
        var world = new AwsWorld(moto.FailingBatch, "eu-west-1");
        var (executionArn, _) = await StartReadmeExampleAsync(world);
        var (_, evt) = await SubmitAndBuildEventAsync(world, executionArn);
        Assert.Equal("FAILED", (string)evt["detail"]!["status"]!);
        var only = Assert.Single(await world.DeliverThroughRuleAsync([evt]));

        var answer = await AwsWorld.InvokeAsync(SamTemplate.LoadHandler("JobStateChangeFunction"), only);
        Assert.Equal("Failed", (string)answer["Action"]!);

        var execution = await world.WaitForExecutionAsync(executionArn, e => (string?)e["status"] != "RUNNING");
        Assert.Equal("FAILED", (string)execution["status"]!);
        var history = await world.HistoryAsync(executionArn);
        var failed = history.Single(e => (string?)e!["type"] == "ExecutionFailed")!;
        var details = failed["executionFailedEventDetails"]!;
        // Step Functions takes any error name up to 256 characters from SendTaskFailure (the official model sets no
        // pattern), and the native integration itself fails with States.TaskFailed. moto's interpreter refuses
        // "States."-prefixed names from SendTaskFailure and fails the execution with States.Runtime, quoting the
        // name it was sent: either way the execution failed on the States.TaskFailed that BatchSync sent.
        // (moto also drops the cause; JobEventProcessorTests prove the cause is the native JobDetail.)
        var error = (string)details["error"]!;
        Assert.True(error == "States.TaskFailed"
            || (error == "States.Runtime" && ((string)details["cause"]!).Contains("got 'States.TaskFailed'")), details.ToJsonString());
    }

    [Fact]
    public async Task A_refused_submit_fails_the_execution_at_once_with_the_Batch_error()
    {
        var world = new AwsWorld(moto.Server, "eu-west-2");
        var definition = File.ReadAllText(Path.Combine(SamTemplate.RepoRoot, "examples", "state-machine.asl.json")).Replace("${JobDefinition}", "no-such-definition");
        var (executionArn, _) = await StartReadmeExampleAsync(world, definition);
        var payload = await world.ScheduledPayloadAsync(executionArn);
        world.ExportEnvironment();

        var answer = await AwsWorld.InvokeAsync(SamTemplate.LoadHandler("SubmitJobFunction"), payload);

        Assert.Equal("Batch.ClientException", (string)answer["Error"]!);
        var execution = await world.WaitForExecutionAsync(executionArn, e => (string?)e["status"] != "RUNNING");
        Assert.Equal("FAILED", (string)execution["status"]!);
        var failed = (await world.HistoryAsync(executionArn)).Single(e => (string?)e!["type"] == "ExecutionFailed")!;
        Assert.Equal("Batch.ClientException", (string)failed["executionFailedEventDetails"]!["error"]!);
    }

    [Fact]
    public async Task The_jobs_code_reports_a_result_and_heartbeats_through_Callback()
    {
        var world = new AwsWorld(moto.Server, "us-west-2");
        // moto only takes heartbeats for states with HeartbeatSeconds.
        var definition = File.ReadAllText(Path.Combine(SamTemplate.RepoRoot, "examples", "state-machine.asl.json"))
            .Replace("\"ResultPath\": \"$.job\",", "\"ResultPath\": \"$.job\",\n      \"HeartbeatSeconds\": 600,");
        var (executionArn, _) = await StartReadmeExampleAsync(world, definition);
        var (submitted, evt) = await SubmitAndBuildEventAsync(world, executionArn);
        var jobId = (string)submitted["JobId"]!;
        var callback = SamTemplate.LoadHandler("CallbackFunction");

        var heartbeat = await AwsWorld.InvokeAsync(callback, new JsonObject { ["JobId"] = jobId, ["Heartbeat"] = true });
        Assert.True((bool)heartbeat["Waiting"]!);
        var stored = await AwsWorld.InvokeAsync(callback, new JsonObject { ["JobId"] = jobId, ["Result"] = new JsonObject { ["Rows"] = 1200 } });
        Assert.Equal("ResultStored", (string)stored["Action"]!);
        await Assert.ThrowsAsync<JobNotFoundException>(() => AwsWorld.InvokeAsync(callback, new JsonObject { ["JobId"] = "not-a-batchsync-job", ["Heartbeat"] = true }));

        await AwsWorld.InvokeAsync(SamTemplate.LoadHandler("JobStateChangeFunction"), evt);

        var execution = await world.WaitForExecutionAsync(executionArn, e => (string?)e["status"] != "RUNNING");
        Assert.Equal("SUCCEEDED", (string)execution["status"]!);
        var job = JsonNode.Parse((string)execution["output"]!)!["job"]!;
        Assert.Equal(1200, (int)job["Result"]!["Rows"]!);
        Assert.Equal("SUCCEEDED", (string)job["Status"]!);
        await Assert.ThrowsAsync<TaskAlreadyFinishedException>(() => AwsWorld.InvokeAsync(callback, new JsonObject { ["JobId"] = jobId, ["Heartbeat"] = true }));
    }

    private static JsonNode WithoutMotoJobIdVariable(JsonNode native, string container = "Container", string environmentName = "Environment", string name = "Name")
    {
        var copy = native.DeepClone();
        var environment = copy[container]![environmentName]!.AsArray();
        foreach (var entry in environment.Where(e => (string)e![name]! == "AWS_BATCH_JOB_ID").ToList())
        {
            environment.Remove(entry);
        }
        return copy;
    }

    /// <summary>A native value with the model's wire names again (a member newer than the model: its first letter lower-cased).</summary>
    internal static JsonNode? WireFromNative(JsonNode? native, BatchSync.Model.Shape? shape)
    {
        switch (native)
        {
            case JsonObject o when shape?.Kind == BatchSync.Model.ShapeKind.Structure:
                var members = o.Select(p => shape.MembersByPascal.TryGetValue(p.Key, out var m)
                    ? (Name: m.WireName, Value: WireFromNative(p.Value, m.Shape))
                    : (Name: char.ToLowerInvariant(p.Key[0]) + p.Key[1..], Value: p.Value?.DeepClone()));
                return new JsonObject(members.Select(p => KeyValuePair.Create(p.Name, p.Value)));
            case JsonObject o when shape?.Kind == BatchSync.Model.ShapeKind.Map:
                return new JsonObject(o.Select(p => KeyValuePair.Create(p.Key, WireFromNative(p.Value, shape.ValueShape))));
            case JsonArray a:
                return new JsonArray([.. a.Select(i => WireFromNative(i, shape?.MemberShape))]);
            default:
                return native?.DeepClone();
        }
    }

    /// <summary>The value without null members (the native output leaves them out).</summary>
    internal static JsonNode? WithoutNullMembers(JsonNode? value) => value switch
    {
        JsonObject o => new JsonObject(o.Where(p => p.Value is not null).Select(p => KeyValuePair.Create(p.Key, WithoutNullMembers(p.Value)))),
        JsonArray a => new JsonArray([.. a.Select(WithoutNullMembers)]),
        _ => value?.DeepClone(),
    };

    [Fact]
    public void The_README_shows_the_tested_state_machine_verbatim()
    {
        var readme = File.ReadAllText(Path.Combine(SamTemplate.RepoRoot, "README.md"));
        var example = File.ReadAllText(Path.Combine(SamTemplate.RepoRoot, "examples", "state-machine.asl.json")).TrimEnd();
        Assert.Contains(example, readme);
    }
}
