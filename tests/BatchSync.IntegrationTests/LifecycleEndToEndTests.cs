using System.Text.Json.Nodes;
using BatchSync.IntegrationTests.Moto;
using BatchSync.Domain;

namespace BatchSync.IntegrationTests;

/// <summary>Cancellation, the sweep and duplicate submits, with the README state machine running in moto.</summary>
[Collection(MotoCollection.Name)]
public class LifecycleEndToEndTests(MotoFixture moto)
{
    private static string Example => File.ReadAllText(Path.Combine(SamTemplate.RepoRoot, "examples", "state-machine.asl.json"));

    private static async Task<JsonObject> JobAsync(AwsWorld world, string jobId) =>
        JsonNode.Parse((await world.Batch.DescribeJobDetailsAsync([jobId])).Single().GetRawText())!.AsObject();

    private static async Task<JsonObject> ReconcileThroughRuleAsync(AwsWorld world, JsonObject executionEvent)
    {
        var delivered = await world.DeliverThroughRuleAsync([executionEvent], SamTemplate.RulePattern(world.StackName, "ReconcileFunction", "ExecutionStopped"));
        return await AwsWorld.InvokeAsync(SamTemplate.LoadHandler("ReconcileFunction"), Assert.Single(delivered));
    }

    [Fact]
    public async Task Stopping_the_execution_terminates_its_queued_job_with_the_native_reason()
    {
        var world = new AwsWorld(moto.SlowBatch, "ca-central-1");
        var (executionArn, _) = await EndToEndTests.StartReadmeExampleAsync(world);
        var payload = await world.ScheduledPayloadAsync(executionArn);
        Assert.Equal(executionArn, (string)payload["ExecutionArn"]!);
        world.ExportEnvironment();
        var jobId = (string)(await AwsWorld.InvokeAsync(SamTemplate.LoadHandler("SubmitJobFunction"), payload))["JobId"]!;
        Assert.Contains((string)(await JobAsync(world, jobId))["status"]!, new[] { "SUBMITTED", "PENDING", "RUNNABLE" });

        // moto accepts StopExecution but never reports an execution blocked on a task token as ABORTED (DEVELOPERS.md),
        // so the test emits the event Step Functions sends after a stop.
        await world.SfnAsync("StopExecution", new JsonObject { ["executionArn"] = executionArn });
        var answer = await ReconcileThroughRuleAsync(world, await world.ExecutionStatusChangeEventAsync(executionArn, "ABORTED"));

        Assert.Equal(("Stopped", 1), ((string)answer["Action"]!, (int)answer["Terminated"]!));
        var job = await JobAsync(world, jobId);
        Assert.Equal($"The Task state in AWS Step Functions execution [{executionArn}] which was managing this resource was aborted", (string)job["statusReason"]!);
        Assert.Equal(RecordStatus.Closed, (await world.Store.FindByJobIdAsync(jobId))!.Status);
    }

    [Fact]
    public async Task A_state_timeout_terminates_the_job_too()
    {
        var world = new AwsWorld(moto.SlowBatch, "sa-east-1");
        var definition = Example.Replace("\"ResultPath\": \"$.job\",", "\"ResultPath\": \"$.job\",\n      \"TimeoutSeconds\": 2,");
        var (executionArn, _) = await EndToEndTests.StartReadmeExampleAsync(world, definition);
        var payload = await world.ScheduledPayloadAsync(executionArn);
        world.ExportEnvironment();
        var jobId = (string)(await AwsWorld.InvokeAsync(SamTemplate.LoadHandler("SubmitJobFunction"), payload))["JobId"]!;

        var failed = await world.WaitForExecutionAsync(executionArn, e => (string?)e["status"] != "RUNNING");
        Assert.Equal(("FAILED", "States.Timeout"), ((string)failed["status"]!, (string?)failed["error"]));
        Assert.Contains((string)(await JobAsync(world, jobId))["status"]!, new[] { "SUBMITTED", "PENDING", "RUNNABLE", "STARTING" });
        await ReconcileThroughRuleAsync(world, await world.ExecutionStatusChangeEventAsync(executionArn));

        Assert.Equal($"The Task state in AWS Step Functions execution [{executionArn}] which was managing this resource was aborted", (string)(await JobAsync(world, jobId))["statusReason"]!);
        Assert.Equal(RecordStatus.Closed, (await world.Store.FindByJobIdAsync(jobId))!.Status);
    }

    [Fact]
    public async Task With_every_event_delivery_dropped_the_sweep_completes_each_task_exactly_once()
    {
        var succeeding = new AwsWorld(moto.Server, "ap-south-1");
        var failing = new AwsWorld(moto.FailingBatch, "ap-south-2");
        var executions = new List<(AwsWorld World, string ExecutionArn)>();
        foreach (var world in new[] { succeeding, failing })
        {
            var (executionArn, _) = await EndToEndTests.StartReadmeExampleAsync(world);
            await EndToEndTests.SubmitAndBuildEventAsync(world, executionArn); // the event is built, and dropped
            executions.Add((world, executionArn));
        }

        foreach (var (world, _) in executions)
        {
            world.ExportEnvironment();
            var sweep = SamTemplate.LoadHandler("ReconcileFunction");
            var first = await AwsWorld.InvokeAsync(sweep, AwsWorld.ScheduledEvent());
            Assert.Equal((1, 1), ((int)first["Examined"]!, (int)first["Delivered"]!));
            var second = await AwsWorld.InvokeAsync(sweep, AwsWorld.ScheduledEvent());
            Assert.Equal((0, 0), ((int)second["Examined"]!, (int)second["Delivered"]!));
        }

        var (okWorld, okExecution) = executions[0];
        var ok = await okWorld.WaitForExecutionAsync(okExecution, e => (string?)e["status"] != "RUNNING");
        Assert.Equal("SUCCEEDED", (string)ok["status"]!);
        Assert.Equal("SUCCEEDED", (string)JsonNode.Parse((string)ok["output"]!)!["job"]!["Status"]!);
        Assert.Single(await okWorld.HistoryAsync(okExecution), e => (string?)e!["type"] == "TaskSucceeded");

        var (badWorld, badExecution) = executions[1];
        var bad = await badWorld.WaitForExecutionAsync(badExecution, e => (string?)e["status"] != "RUNNING");
        Assert.Equal("FAILED", (string)bad["status"]!);
        Assert.Single(await badWorld.HistoryAsync(badExecution), e => (string?)e!["type"] == "ExecutionFailed");
    }

    [Fact]
    public async Task The_schedules_parts_together_deliver_a_lost_outcome_once()
    {
        var world = new AwsWorld(moto.Server, "eu-central-1");
        var (executionArn, _) = await EndToEndTests.StartReadmeExampleAsync(world);
        var (submitted, _) = await EndToEndTests.SubmitAndBuildEventAsync(world, executionArn); // the event is built, and dropped
        // The record is first due a moment after submit (the test world's fast schedule): sweep once it is.
        var record = (await world.Store.FindByJobIdAsync((string)submitted["JobId"]!))!;
        var wait = DateTimeOffset.FromUnixTimeMilliseconds(record.NextCheckAt!.Value) - DateTimeOffset.UtcNow;
        await Task.Delay(wait > TimeSpan.Zero ? wait + TimeSpan.FromMilliseconds(50) : TimeSpan.Zero);
        world.ExportEnvironment();
        var sweep = SamTemplate.LoadHandler("ReconcileFunction");
        // What the deployed schedule sends at a tick with the default SweepInvocations: one input per target.
        var parameters = new Dictionary<string, JsonNode>();
        var inputs = SamTemplate.Resource("ReconcileFunctionSweep")["Properties"]!["Targets"]!.AsArray()
            .Select(t => Intrinsics.Evaluate(t, parameters)).OfType<JsonObject>()
            .Select(t => JsonNode.Parse((string)Intrinsics.Evaluate(t["Input"], parameters)!)!).ToList();
        Assert.Equal(4, inputs.Count);

        var answers = new List<JsonObject>();
        foreach (var input in inputs)
        {
            answers.Add(await AwsWorld.InvokeAsync(sweep, input));
        }

        Assert.Equal((1, 1), (answers.Sum(a => (int)a["Examined"]!), answers.Sum(a => (int)a["Delivered"]!)));
        var done = await world.WaitForExecutionAsync(executionArn, e => (string?)e["status"] != "RUNNING");
        Assert.Equal("SUCCEEDED", (string)done["status"]!);
        Assert.Single(await world.HistoryAsync(executionArn), e => (string?)e!["type"] == "TaskSucceeded");
    }

    [Fact]
    public async Task SubmitJob_invoked_twice_with_one_token_submits_one_job()
    {
        var world = new AwsWorld(moto.Server, "eu-north-1");
        var (executionArn, _) = await EndToEndTests.StartReadmeExampleAsync(world);
        var payload = await world.ScheduledPayloadAsync(executionArn);
        world.ExportEnvironment();
        var submit = SamTemplate.LoadHandler("SubmitJobFunction");

        var first = await AwsWorld.InvokeAsync(submit, payload);
        var second = await AwsWorld.InvokeAsync(submit, payload);

        Assert.Equal(first.ToJsonString(), second.ToJsonString());
        var (jobs, _) = await world.Batch.ListJobsAsync(new JsonObject
        {
            ["jobQueue"] = "batchsync-queue",
            ["filters"] = new JsonArray(new JsonObject { ["name"] = "JOB_NAME", ["values"] = new JsonArray("nightly-report") }),
        });
        Assert.Single(jobs);
    }
}
