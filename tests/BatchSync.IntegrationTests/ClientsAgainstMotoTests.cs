using System.Text.Json.Nodes;
using BatchSync.Aws;
using BatchSync.IntegrationTests.Moto;
using BatchSync.Domain;

namespace BatchSync.IntegrationTests;

/// <summary>Our own clients' requests, accepted (and refused) by a real implementation of the APIs.</summary>
[Collection(MotoCollection.Name)]
public class ClientsAgainstMotoTests(MotoFixture moto)
{
    [Fact]
    public async Task BatchClient_submits_describes_lists_and_terminates()
    {
        var world = new AwsWorld(moto.Server, "ap-southeast-1");
        var (queue, definition, _) = await world.CreateBatchAsync();

        var job = await world.Batch.SubmitJobAsync(new JsonObject
        {
            ["jobName"] = "client-test", ["jobQueue"] = queue, ["jobDefinition"] = definition,
            ["parameters"] = new JsonObject { ["InputFile"] = "a" },
        });
        Assert.Equal("client-test", job.JobName);
        Assert.EndsWith($"job/{job.JobId}", job.JobArn);

        var described = Assert.Single(await world.Batch.DescribeJobDetailsAsync([job.JobId, "no-such-job"]));
        Assert.Equal(job.JobId, described.GetProperty("jobId").GetString());
        Assert.Equal("a", described.GetProperty("parameters").GetProperty("InputFile").GetString());

        var (listed, _) = await world.Batch.ListJobsAsync(new JsonObject { ["jobQueue"] = queue, ["jobStatus"] = "SUCCEEDED" });
        Assert.Contains(listed, j => j.JobId == job.JobId && j.JobName == "client-test");

        await world.Batch.TerminateJobAsync(job.JobId, "test");
    }

    [Fact]
    public async Task BatchClient_reads_a_refusal_as_the_native_error()
    {
        var world = new AwsWorld(moto.Server, "ap-southeast-2");
        var error = await Assert.ThrowsAsync<AwsServiceException>(() => world.Batch.SubmitJobAsync(new JsonObject
        {
            ["jobName"] = "x", ["jobQueue"] = "missing-queue", ["jobDefinition"] = "missing-definition",
        }));
        Assert.Equal("ClientException", error.ErrorCode);
        Assert.Matches(@"^Job definition missing-definition does not exist \(Service: AWSBatch; Status Code: 400; Error Code: ClientException; Request ID: \S+; Proxy: null\)$", error.NativeCause);
    }

    [Fact]
    public async Task StepFunctionsClient_calls_are_accepted()
    {
        var world = new AwsWorld(moto.Server, "ap-northeast-1");
        // A token no execution issued: the request is accepted as well-formed and answered InvalidToken, which the
        // client reports as an answer, not an exception. The end-to-end tests use real tokens.
        Assert.Equal(TaskReply.InvalidToken, await world.StepFunctions.SendTaskSuccessAsync("not-a-token", """{"a":1}"""));
        Assert.Equal(TaskReply.InvalidToken, await world.StepFunctions.SendTaskFailureAsync("not-a-token", "E", "C"));
        Assert.Equal(TaskReply.InvalidToken, await world.StepFunctions.SendTaskHeartbeatAsync("not-a-token"));
        var list = await world.StepFunctions.CallAsync("ListStateMachines", new JsonObject());
        Assert.Contains("stateMachines", System.Text.Encoding.UTF8.GetString(list));
    }

    [Fact]
    public async Task DynamoJobStore_keeps_records_with_its_conditions()
    {
        var world = new AwsWorld(moto.Server, "ap-northeast-2");
        await world.CreateTableFromTemplateAsync();
        var store = world.Store;
        var record = new TaskRecord { TaskKey = TaskKey.For("t1"), TaskToken = "t1", Status = RecordStatus.Submitting, JobName = "j", CreatedAt = 1, UpdatedAt = 1 };

        Assert.True(await store.TryCreateAsync(record));
        Assert.False(await store.TryCreateAsync(record with { TaskToken = "other" }));
        // An unfinished record is due for the sweep from its creation unless it says when.
        Assert.Equal(record with { NextCheckAt = record.CreatedAt }, await store.GetAsync(record.TaskKey));
        Assert.Null(await store.GetAsync("missing"));

        await store.AttachJobAsync(record.TaskKey, new SubmittedJob("arn:job/j-1", "j-1", "j"));
        var attached = await store.FindByJobIdAsync("j-1");
        Assert.Equal((RecordStatus.Submitted, "j-1", "arn:job/j-1"), (attached!.Status, attached.JobId, attached.JobArn));
        Assert.Null(await store.FindByJobIdAsync("j-2"));

        Assert.True(await store.SetResultAsync(record.TaskKey, """{"rows":1}"""));
        Assert.True(await store.FinishAsync(record.TaskKey, new RecordEnding(RecordStatus.Succeeded, "job SUCCEEDED")));
        Assert.False(await store.FinishAsync(record.TaskKey, new RecordEnding(RecordStatus.Closed, "late")));
        Assert.False(await store.SetResultAsync(record.TaskKey, "2"));

        var finished = await store.GetAsync(record.TaskKey);
        Assert.Equal((RecordStatus.Succeeded, "job SUCCEEDED", """{"rows":1}"""), (finished!.Status, finished.Reason, finished.Result));
        Assert.True(finished.ExpiresAt > DateTimeOffset.UtcNow.AddDays(29).ToUnixTimeSeconds());

        // Attaching after the ending keeps the ending.
        await store.AttachJobAsync(record.TaskKey, new SubmittedJob("arn:job/j-9", "j-9", "j"));
        Assert.Equal(RecordStatus.Succeeded, (await store.GetAsync(record.TaskKey))!.Status);
    }

    [Fact]
    public async Task DynamoJobStore_keeps_the_store_contract()
    {
        var world = new AwsWorld(moto.Server, "ap-southeast-4");
        await world.CreateTableFromTemplateAsync();
        await BatchSync.Tests.StoreContract.LeasesAsync(world.Store);
        await BatchSync.Tests.StoreContract.GuardedAttachAsync(world.Store);
        await BatchSync.Tests.StoreContract.AnswerClaimsAsync(world.Store);
        await BatchSync.Tests.StoreContract.MissingJobsAsync(world.Store);
        await BatchSync.Tests.StoreContract.DueByPartAsync(world.Store);
        await BatchSync.Tests.StoreContract.JobKindsAsync(world.Store);
    }
}
