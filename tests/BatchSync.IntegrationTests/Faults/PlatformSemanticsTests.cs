using System.Text.Json;
using System.Text.Json.Nodes;
using BatchSync.IntegrationTests.Moto;
using BatchSync.Domain;

namespace BatchSync.IntegrationTests.Faults;

/// <summary>
/// The README state machine in moto, through the proxy playing the platform as it is: invocations that arrive together,
/// Batch acting and then failing to answer, lists that lag a submit, and a state-level Retry that moves to a new token.
/// </summary>
[Collection(MotoCollection.Name)]
public class PlatformSemanticsTests(MotoFixture moto)
{
    private static readonly string[] TerminalOperations = ["SendTaskSuccess", "SendTaskFailure"];

    private static async Task<List<JsonElement>> JobsNamedAsync(AwsWorld world, string name = "nightly-report")
    {
        var (summaries, _) = await world.Batch.ListJobsAsync(new JsonObject
        {
            ["jobQueue"] = "batchsync-queue",
            ["filters"] = new JsonArray(new JsonObject { ["name"] = "JOB_NAME", ["values"] = new JsonArray(name) }),
        });
        return summaries.Count == 0 ? [] : [.. await world.Batch.DescribeJobDetailsAsync(summaries.Select(s => s.JobId).ToList())];
    }

    private static void SetTiming(string? leaseSeconds, string? graceSeconds)
    {
        Environment.SetEnvironmentVariable("BATCHSYNC_SUBMIT_LEASE_SECONDS", leaseSeconds);
        Environment.SetEnvironmentVariable("BATCHSYNC_SUBMIT_GRACE_SECONDS", graceSeconds);
    }

    [Fact]
    public async Task Concurrent_invocations_with_one_token_submit_one_job()
    {
        var world = new AwsWorld(moto.Server, "af-south-1");
        var (executionArn, _) = await EndToEndTests.StartReadmeExampleAsync(world);
        var payload = await world.ScheduledPayloadAsync(executionArn);
        using var proxy = new FaultProxy(world.Server.Endpoint, seed: 1) { Delays = { ["batch:submitjob"] = TimeSpan.FromSeconds(1.5) } };
        world.ExportEnvironment(proxy.Endpoint);
        var submit = SamTemplate.LoadHandler("SubmitJobFunction");

        var answers = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => Task.Run(() => AwsWorld.InvokeAsync(submit, payload))));

        world.ExportEnvironment();
        Assert.Equal(1, proxy.Calls.Count(c => c.Operation.Equals("submitjob", StringComparison.OrdinalIgnoreCase)));
        var job = Assert.Single(await JobsNamedAsync(world));
        Assert.All(answers, a => Assert.Equal(job.GetProperty("jobId").GetString(), (string?)a["JobId"]));
    }

    [Theory]
    [InlineData(FaultKind.DropAfter)]
    [InlineData(FaultKind.ServerErrorAfter)]
    [InlineData(FaultKind.SlowAnswer)]
    public async Task Batch_acted_but_its_answer_was_lost_the_job_is_adopted_and_the_task_answered_once(FaultKind fault)
    {
        var world = new AwsWorld(moto.Server, fault switch { FaultKind.DropAfter => "ap-northeast-3", FaultKind.ServerErrorAfter => "ap-southeast-3", _ => "me-central-1" });
        var (executionArn, _) = await EndToEndTests.StartReadmeExampleAsync(world);
        var payload = await world.ScheduledPayloadAsync(executionArn);
        using var proxy = new FaultProxy(world.Server.Endpoint, seed: 2)
        {
            SlowAnswerDelay = TimeSpan.FromSeconds(1),
            RatesByOperation = { ["batch:submitjob"] = 1.0 },
            KindsByOperation = { ["batch:submitjob"] = [fault] },
        };
        world.ExportEnvironment(proxy.Endpoint, new Dictionary<string, string?> { ["BATCHSYNC_ATTEMPT_TIMEOUT_MS"] = "500" });

        var answer = await AwsWorld.InvokeAsync(SamTemplate.LoadHandler("SubmitJobFunction"), payload);

        var job = Assert.Single(await JobsNamedAsync(world));
        var jobId = job.GetProperty("jobId").GetString()!;
        Assert.Equal(jobId, (string?)answer["JobId"]);
        Assert.Equal(RecordStatus.Submitted, (await world.Store.FindByJobIdAsync(jobId))!.Status);

        var evt = await world.JobStateChangeEventAsync(jobId);
        await AwsWorld.InvokeAsync(SamTemplate.LoadHandler("JobStateChangeFunction"), evt);
        await AwsWorld.InvokeAsync(SamTemplate.LoadHandler("JobStateChangeFunction"), evt);
        world.ExportEnvironment();
        var done = await world.WaitForExecutionAsync(executionArn, e => (string?)e["status"] != "RUNNING");
        Assert.Equal("SUCCEEDED", (string)done["status"]!);
        Assert.Equal(1, proxy.Calls.Count(c => TerminalOperations.Contains(c.Operation)));
    }

    [Fact]
    public async Task A_lost_answer_whose_job_Batch_does_not_list_yet_is_adopted_by_the_sweep()
    {
        var world = new AwsWorld(moto.Server, "il-central-1");
        var (executionArn, _) = await EndToEndTests.StartReadmeExampleAsync(world);
        var payload = await world.ScheduledPayloadAsync(executionArn);
        using var proxy = new FaultProxy(world.Server.Endpoint, seed: 3)
        {
            ListingLag = TimeSpan.FromSeconds(2),
            RatesByOperation = { ["batch:submitjob"] = 1.0 },
            KindsByOperation = { ["batch:submitjob"] = [FaultKind.ServerErrorAfter] },
        };
        world.ExportEnvironment(proxy.Endpoint);
        try
        {
            SetTiming("1", "60");
            var answer = await AwsWorld.InvokeAsync(SamTemplate.LoadHandler("SubmitJobFunction"), payload);
            Assert.Null((string?)answer["JobId"]);
            Assert.True(proxy.HiddenByLag > 0);
            var record = (await world.Store.ListDueAsync(long.MaxValue, 10)).Single();
            Assert.Equal((RecordStatus.Submitting, SubmitState.OutcomeUnknown), (record.Status, record.Submit));

            await Task.Delay(TimeSpan.FromSeconds(2.5));
            var swept = await AwsWorld.InvokeAsync(SamTemplate.LoadHandler("ReconcileFunction"), AwsWorld.ScheduledEvent());
            Assert.Equal(0, (int)swept["Failed"]!);
            var job = Assert.Single(await JobsNamedAsync(world));
            Assert.Equal(job.GetProperty("jobId").GetString(), (await world.Store.GetAsync(record.TaskKey))!.JobId);
            Assert.DoesNotContain(proxy.Calls, c => TerminalOperations.Contains(c.Operation));
        }
        finally
        {
            SetTiming(null, null);
            world.ExportEnvironment();
        }
    }

    [Fact]
    public async Task A_state_level_retry_gets_a_new_token_and_the_first_attempts_job_is_terminated()
    {
        var world = new AwsWorld(moto.SlowBatch, "eu-south-2");
        var (executionArn, _) = await EndToEndTests.StartReadmeExampleAsync(world);
        var payload = await world.ScheduledPayloadAsync(executionArn);
        var realToken = (string)payload["TaskToken"]!;
        using var proxy = new FaultProxy(world.Server.Endpoint, seed: 4)
        {
            // Attempt 1 submits its job, then cannot note it: DynamoDB fails every update.
            RatesByOperation = { ["dynamodb:UpdateItem"] = 1.0 },
            KindsByOperation = { ["dynamodb:UpdateItem"] = [FaultKind.ServerError] },
        };
        world.ExportEnvironment(proxy.Endpoint);
        try
        {
            SetTiming("1", "60");
            var first = (JsonObject)payload.DeepClone();
            first["TaskToken"] = proxy.Tokens.Issue(realToken, 1);
            await Assert.ThrowsAsync<TransientFailureException>(() => AwsWorld.InvokeAsync(SamTemplate.LoadHandler("SubmitJobFunction"), first));
            var firstJob = Assert.Single(await JobsNamedAsync(world)).GetProperty("jobId").GetString()!;

            // Step Functions: the invocation failed, so the attempt fails, its token dies, and the Retry starts attempt 2.
            proxy.Tokens.Kill((string)first["TaskToken"]!);
            await world.SfnAsync("SendTaskFailure", new JsonObject { ["taskToken"] = realToken, ["error"] = "TransientFailureException", ["cause"] = "attempt 1 failed" });
            await WaitForScheduledAsync(world, executionArn, 2);
            proxy.RatesByOperation.Clear();
            var second = (JsonObject)payload.DeepClone();
            second["TaskToken"] = proxy.Tokens.Issue(realToken, 2);
            var secondJob = (string)(await AwsWorld.InvokeAsync(SamTemplate.LoadHandler("SubmitJobFunction"), second))["JobId"]!;
            Assert.NotEqual(firstJob, secondJob);

            // The sweep finds attempt 1's job by its marker; its heartbeat is answered TaskTimedOut, so the job is terminated.
            await Task.Delay(TimeSpan.FromSeconds(1.5));
            // Two sweeps, the second once the adopted record is due again (the test world's sweep clock is fast).
            await AwsWorld.InvokeAsync(SamTemplate.LoadHandler("ReconcileFunction"), AwsWorld.ScheduledEvent());
            await Task.Delay(TimeSpan.FromSeconds(2));
            await AwsWorld.InvokeAsync(SamTemplate.LoadHandler("ReconcileFunction"), AwsWorld.ScheduledEvent());
            Assert.Contains(proxy.Calls, c => c.AnsweredDeadToken && c.Operation == "SendTaskHeartbeat");
            var jobs = (await JobsNamedAsync(world)).ToDictionary(j => j.GetProperty("jobId").GetString()!);
            Assert.Equal(TaskDecisions.TaskClosedReason, jobs[firstJob].GetProperty("statusReason").GetString());
            Assert.False(jobs[secondJob].TryGetProperty("statusReason", out var reason) && reason.GetString() == TaskDecisions.TaskClosedReason);
            Assert.Equal(RecordStatus.Closed, (await world.Store.FindByJobIdAsync(firstJob))!.Status);
            Assert.Equal(RecordStatus.Submitted, (await world.Store.FindByJobIdAsync(secondJob))!.Status);
        }
        finally
        {
            SetTiming(null, null);
            world.ExportEnvironment();
        }
    }

    private static async Task WaitForScheduledAsync(AwsWorld world, string executionArn, int times)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await world.HistoryAsync(executionArn)).Count(e => (string?)e!["type"] == "TaskScheduled") < times)
        {
            Assert.True(DateTime.UtcNow < deadline, "the Retry never scheduled the next attempt");
            await Task.Delay(200);
        }
    }
}
