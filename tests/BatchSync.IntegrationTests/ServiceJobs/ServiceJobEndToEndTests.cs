using System.Text.Json.Nodes;
using BatchSync.Domain;
using BatchSync.IntegrationTests.Moto;
using BatchSync.Model;

namespace BatchSync.IntegrationTests.ServiceJobs;

/// <summary>
/// Service jobs end to end (issue 21): a state machine run by moto's Step Functions engine waits for a SageMaker
/// Training job queued through Batch, whose service-job API moto lacks and <see cref="BatchSync.LocalWorld.ServiceJobs"/>
/// stands in for (strict per the official model; everything else is forwarded to moto). The test plays Lambda (the
/// handlers the template names, invoked with the payload moto scheduled), SageMaker (it moves the job) and EventBridge
/// (the stand-in's events, as the User Guide's sample shows them). Counts come from the stand-in's calls and jobs.
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class ServiceJobEndToEndTests(MotoFixture moto)
{
    private const string Role = "arn:aws:iam::123456789012:role/sagemaker-training";

    /// <summary>A CreateTrainingJob request (the User Guide's sample, with this test's role), as the string Batch takes.</summary>
    private static readonly string TrainingJob = new JsonObject
    {
        ["TrainingJobName"] = "nightly-model",
        ["RoleArn"] = Role,
        ["AlgorithmSpecification"] = new JsonObject { ["TrainingInputMode"] = "File", ["TrainingImage"] = "763104351884.dkr.ecr.us-west-2.amazonaws.com/pytorch-training:2.0.0-cpu-py310" },
        ["ResourceConfig"] = new JsonObject { ["InstanceType"] = "ml.c5.xlarge", ["InstanceCount"] = 1, ["VolumeSizeInGB"] = 1 },
        ["OutputDataConfig"] = new JsonObject { ["S3OutputPath"] = "s3://models/output" },
        ["StoppingCondition"] = new JsonObject { ["MaxRuntimeInSeconds"] = 3600 },
    }.ToJsonString();

    private sealed class Scene(BatchSync.LocalWorld.ServiceJobs jobs, AwsWorld world, string executionArn) : IDisposable
    {
        public BatchSync.LocalWorld.ServiceJobs Jobs { get; } = jobs;
        public AwsWorld World { get; } = world;
        public string ExecutionArn { get; } = executionArn;

        public void Dispose() => Jobs.Dispose();
    }

    /// <summary>
    /// The state machine of the README's service-job example, its payload's options as given; the functions' environment
    /// with these allowed roles (BATCHSYNC_ALLOWED_SERVICE_ROLES, as the template sets it from AllowedServiceRoles).
    /// </summary>
    private async Task<Scene> StartAsync(string region, string? allowedRoles = Role, JsonObject? options = null)
    {
        var jobs = new BatchSync.LocalWorld.ServiceJobs(moto.Server.Endpoint);
        jobs.AddQueue("training", region);
        var world = new AwsWorld(jobs.Endpoint, region, "batchsync-sj");
        await world.CreateTableFromTemplateAsync();
        var role = await world.CreateRoleAsync($"batchsync-sj-{region}");
        var function = await world.CreateStandInFunctionAsync("ServiceJobSubmitJob", role); // a name of its own: moto may hold another test's "SubmitJob" in this region
        var payload = new JsonObject
        {
            ["JobName"] = "train-nightly-model",
            ["JobQueue"] = "training",
            ["ServiceJobType"] = "SAGEMAKER_TRAINING",
            ["ServiceRequestPayload.$"] = "$.trainingJob",
            ["TaskToken.$"] = "$$.Task.Token",
            ["ExecutionArn.$"] = "$$.Execution.Id",
            ["StateName.$"] = "$$.State.Name",
        };
        if (options is not null)
        {
            payload[TaskOptions.Member] = options;
        }
        var definition = new JsonObject
        {
            ["StartAt"] = "Train",
            ["States"] = new JsonObject
            {
                ["Train"] = new JsonObject
                {
                    ["Type"] = "Task",
                    ["Resource"] = "arn:aws:states:::lambda:invoke.waitForTaskToken",
                    ["Parameters"] = new JsonObject { ["FunctionName"] = function, ["Payload"] = payload },
                    ["ResultPath"] = "$.job",
                    // Where the failure's name shows in moto (it keeps no cause: the test reads what BatchSync sent).
                    ["Catch"] = new JsonArray(new JsonObject { ["ErrorEquals"] = new JsonArray("States.ALL"), ["ResultPath"] = "$.error", ["Next"] = "Failed" }),
                    ["End"] = true,
                },
                ["Failed"] = new JsonObject { ["Type"] = "Pass", ["End"] = true },
            },
        };
        // Names of their own: moto may hold other tests' state machines and executions in this region.
        var machine = await world.SfnAsync("CreateStateMachine", new JsonObject { ["name"] = $"train-{Guid.NewGuid():N}", ["definition"] = definition.ToJsonString(), ["roleArn"] = role });
        var execution = await world.SfnAsync("StartExecution", new JsonObject
        {
            ["stateMachineArn"] = (string)machine["stateMachineArn"]!,
            ["name"] = $"run-{Guid.NewGuid():N}",
            ["input"] = new JsonObject { ["trainingJob"] = TrainingJob }.ToJsonString(),
        });
        world.ExportEnvironment(extra: new Dictionary<string, string?> { [SubmitPermissions.ServiceRolesVariable] = allowedRoles });
        return new Scene(jobs, world, (string)execution["executionArn"]!);
    }

    private static Task<JsonObject> InvokeAsync(string function, JsonNode payload) => AwsWorld.InvokeAsync(SamTemplate.LoadHandler(function), payload);

    private static async Task<(JsonObject Submitted, JsonObject Payload)> SubmitAsync(Scene scene)
    {
        var payload = await scene.World.ScheduledPayloadAsync(scene.ExecutionArn);
        return (await InvokeAsync("SubmitJobFunction", payload), payload);
    }

    private static Task<JsonObject> EventAsync(Scene scene, string jobId) => InvokeAsync("JobStateChangeFunction", scene.Jobs.EventFor(jobId));

    private static async Task<JsonObject> EndedAsync(Scene scene) =>
        await scene.World.WaitForExecutionAsync(scene.ExecutionArn, e => (string?)e["status"] != "RUNNING");

    [Fact]
    public async Task A_service_job_answers_its_task_with_its_DescribeServiceJob_detail_in_native_form()
    {
        using var scene = await StartAsync("ap-east-1");
        var (submitted, payload) = await SubmitAsync(scene);
        var jobId = (string)submitted["JobId"]!;
        Assert.Equal(scene.Jobs.JobIds, [jobId]);
        Assert.StartsWith($"arn:aws:batch:ap-east-1:{AwsWorld.Account}:service-job/", (string)submitted["JobArn"]!);

        // What reached Batch: the payload as written, the marker as a tag, a clientToken derived from the token (not it).
        var token = (string)payload["TaskToken"]!;
        var request = scene.Jobs.SubmittedRequest(jobId);
        Assert.Equal(TrainingJob, (string)request["serviceRequestPayload"]!);
        Assert.Equal($"batchsync-sj:{TaskKey.For(token)}", (string)request["tags"]![TaskKey.MarkerParameter]!);
        var clientToken = (string)request["clientToken"]!;
        Assert.InRange(clientToken.Length, 1, 64);
        Assert.DoesNotContain(clientToken, token);
        Assert.NotEqual(TaskKey.For(token), clientToken);
        var record = await scene.World.Store.GetAsync(TaskKey.For(token));
        Assert.Equal((JobKind.Service, jobId, RecordStatus.Submitted), (record!.JobKind, record.JobId, record.Status));

        // The job's events reach JobStateChange through the template's rule (on moto's EventBridge): RUNNING and the
        // final state, not the states before.
        var rule = await scene.World.CreateRouteAsync(SamTemplate.Resource("ServiceJobStateChangeRule")["Properties"]!["EventPattern"]!.AsObject());
        scene.Jobs.Advance(jobId, "SCHEDULED");
        var scheduled = scene.Jobs.EventFor(jobId);
        scene.Jobs.Advance(jobId, "RUNNING");
        var running = Assert.Single(await rule.DeliverAsync([scheduled, scene.Jobs.EventFor(jobId)]));
        Assert.Equal("RUNNING", (string)running["detail"]!["status"]!);
        Assert.Equal("Waiting", (string)(await InvokeAsync("JobStateChangeFunction", running))["Action"]!);
        scene.Jobs.Succeed(jobId);
        var succeeded = Assert.Single(await rule.DeliverAsync([scene.Jobs.EventFor(jobId)]));
        Assert.Equal("Succeeded", (string)(await InvokeAsync("JobStateChangeFunction", succeeded))["Action"]!);
        Assert.Equal("Ignored", (string)(await InvokeAsync("JobStateChangeFunction", succeeded))["Action"]!);

        var execution = await EndedAsync(scene);
        Assert.Equal("SUCCEEDED", (string)execution["status"]!);
        var job = JsonNode.Parse((string)execution["output"]!)!["job"]!;
        var names = job.AsObject().Select(p => p.Key).ToList();
        Assert.Equal(names.Order(StringComparer.Ordinal), names);
        // Read back through the model's wire names, the output is what DescribeServiceJob says now, less the marker tag.
        var described = EndToEndTests.WithoutNullMembers(scene.Jobs.Describe(jobId))!.AsObject();
        described["tags"]!.AsObject().Remove(TaskKey.MarkerParameter);
        var readBack = EndToEndTests.WireFromNative(job, BatchShapes.Instance["DescribeServiceJobResponse"])!;
        Assert.True(JsonNode.DeepEquals(described, readBack), $"expected {described.ToJsonString()}\nread back {readBack.ToJsonString()}");
        Assert.Equal("Received status from SageMaker: Training job completed", (string)job["StatusReason"]!);
        Assert.StartsWith($"arn:aws:sagemaker:ap-east-1:{AwsWorld.Account}:training-job/AWSBatchnightly-model", (string)job["LatestAttempt"]!["ServiceResourceId"]!["Value"]!);
        Assert.Equal((1, 0), (scene.Jobs.Calls("SubmitServiceJob"), scene.Jobs.Calls("TerminateServiceJob")));
        Assert.DoesNotContain(token, (string)execution["output"]!);
    }

    [Fact]
    public async Task A_failed_training_job_fails_its_task_with_a_typed_error_and_the_training_jobs_links_when_opted_in()
    {
        using var scene = await StartAsync("ap-east-2", options: new JsonObject { ["TypedErrors"] = true, ["Links"] = true });
        var jobId = (string)(await SubmitAsync(scene)).Submitted["JobId"]!;
        scene.Jobs.Advance(jobId, "RUNNING");
        const string reason = "Received status from SageMaker: AlgorithmError: ExecuteUserScriptError: exit code 1";
        scene.Jobs.Fail(jobId, reason);
        Assert.Equal("Failed", (string)(await EventAsync(scene, jobId))["Action"]!);

        var execution = await EndedAsync(scene);
        Assert.Equal("BatchJob.TrainingJobFailed", (string)JsonNode.Parse((string)execution["output"]!)!["error"]!["Error"]!);
        // moto keeps no cause (in the history, or for a Catch): what BatchSync sent is read on its way to Step Functions.
        var sent = Assert.Single(scene.Jobs.StepFunctionsCalls, c => c.Operation == "SendTaskFailure").Request;
        Assert.Equal("BatchJob.TrainingJobFailed", (string)sent["error"]!);
        var cause = JsonNode.Parse((string)sent["cause"]!)!;
        Assert.Equal("FAILED", (string)cause["Status"]!);
        var trainingJob = (string)scene.Jobs.Describe(jobId)["latestAttempt"]!["serviceResourceId"]!["value"]!;
        Assert.Equal("BatchJob.TrainingJobFailed", (string)cause["BatchSyncFailure"]!["Kind"]!);
        Assert.Equal(reason, (string)cause["BatchSyncFailure"]!["Reason"]!);
        Assert.Equal(trainingJob, (string)cause["BatchSyncFailure"]!["TrainingJobArn"]!);
        var name = trainingJob[(trainingJob.LastIndexOf('/') + 1)..];
        Assert.Equal($"https://ap-east-2.console.aws.amazon.com/sagemaker/home?region=ap-east-2#/jobs/{name}", (string)cause["BatchSyncLinks"]!["TrainingJob"]!);
        Assert.Contains(scene.ExecutionArn, (string)cause["BatchSyncLinks"]!["Execution"]!);
    }

    [Fact]
    public async Task Stopping_the_execution_terminates_its_service_job_with_TerminateServiceJob()
    {
        using var scene = await StartAsync("ca-west-1");
        var jobId = (string)(await SubmitAsync(scene)).Submitted["JobId"]!;
        scene.Jobs.Advance(jobId, "RUNNING");
        await scene.World.SfnAsync("StopExecution", new JsonObject { ["executionArn"] = scene.ExecutionArn });
        var stopped = await InvokeAsync("ReconcileFunction", await scene.World.ExecutionStatusChangeEventAsync(scene.ExecutionArn, "ABORTED"));
        Assert.Equal(("Stopped", 1), ((string)stopped["Action"]!, (int)stopped["Terminated"]!));

        var described = scene.Jobs.Describe(jobId);
        Assert.Equal(("FAILED", true), ((string)described["status"]!, (bool)described["isTerminated"]!));
        Assert.Equal($"The Task state in AWS Step Functions execution [{scene.ExecutionArn}] which was managing this resource was aborted", (string)described["statusReason"]!);
        Assert.Equal(1, scene.Jobs.Calls("TerminateServiceJob"));
        Assert.Equal(RecordStatus.Closed, (await scene.World.Store.FindByJobIdAsync(jobId))!.Status);
        // The job's own FAILED event comes after: the task is closed, nothing more is sent.
        Assert.Equal("Ignored", (string)(await EventAsync(scene, jobId))["Action"]!);
    }

    [Fact]
    public async Task A_lost_final_event_is_recovered_by_the_sweep_describing_the_service_job()
    {
        using var scene = await StartAsync("ap-southeast-5");
        var jobId = (string)(await SubmitAsync(scene)).Submitted["JobId"]!;
        scene.Jobs.Advance(jobId, "RUNNING");
        scene.Jobs.Succeed(jobId); // its event is lost
        var describesBefore = scene.Jobs.Calls("DescribeServiceJob");

        var sweep = SamTemplate.LoadHandler("ReconcileFunction");
        // AwsWorld's sweep clock is fast: the record is due 60 ms after it was written (deployed: 5 minutes).
        var dueAt = (await scene.World.Store.FindByJobIdAsync(jobId))!.NextCheckAt!.Value;
        await Task.Delay(TimeSpan.FromMilliseconds(Math.Max(0, dueAt - DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 20)));
        var first = await AwsWorld.InvokeAsync(sweep, AwsWorld.ScheduledEvent());
        Assert.Equal((1, 1), ((int)first["Examined"]!, (int)first["Delivered"]!));
        Assert.Equal(1, scene.Jobs.Calls("DescribeServiceJob") - describesBefore);
        var second = await AwsWorld.InvokeAsync(sweep, AwsWorld.ScheduledEvent());
        Assert.Equal((0, 0), ((int)second["Examined"]!, (int)second["Delivered"]!));

        var execution = await EndedAsync(scene);
        Assert.Equal("SUCCEEDED", (string)execution["status"]!);
        Assert.Equal("SUCCEEDED", (string)JsonNode.Parse((string)execution["output"]!)!["job"]!["Status"]!);
        Assert.Single(await scene.World.HistoryAsync(scene.ExecutionArn), e => (string?)e!["type"] == "TaskSucceeded");
    }

    [Fact]
    public async Task Retried_concurrent_and_record_losing_invocations_with_one_token_make_one_service_job()
    {
        using var scene = await StartAsync("mx-central-1");
        var payload = await scene.World.ScheduledPayloadAsync(scene.ExecutionArn);
        // Batch makes the job and the connection drops before its answer; a second invocation runs at the same time.
        scene.Jobs.DropAfterSubmit();
        var both = await Task.WhenAll(InvokeAsync("SubmitJobFunction", payload), InvokeAsync("SubmitJobFunction", payload));
        var jobId = Assert.Single(scene.Jobs.JobIds);
        Assert.Equal(1, scene.Jobs.Calls("SubmitServiceJob"));
        Assert.Contains(both, r => (string?)r["JobId"] == jobId);
        var later = await InvokeAsync("SubmitJobFunction", payload);
        Assert.Equal(jobId, (string)later["JobId"]!);
        Assert.Equal(1, scene.Jobs.Calls("SubmitServiceJob"));

        // The record is lost (deleted by hand): the next invocation submits again with the same clientToken, Batch
        // rejects it, and BatchSync finds the first job by its marker and waits for it.
        var key = TaskKey.For((string)payload["TaskToken"]!);
        await scene.World.Dynamo.DeleteItemAsync(scene.World.TableName, new() { ["TaskKey"] = new Amazon.DynamoDBv2.Model.AttributeValue(key) });
        var afterLoss = await InvokeAsync("SubmitJobFunction", payload);
        Assert.Equal(jobId, (string)afterLoss["JobId"]!);
        Assert.Equal(2, scene.Jobs.Calls("SubmitServiceJob"));
        Assert.Single(scene.Jobs.JobIds);
        Assert.Equal(jobId, (await scene.World.Store.GetAsync(key))!.JobId);

        scene.Jobs.Succeed(jobId);
        Assert.Equal("Succeeded", (string)(await EventAsync(scene, jobId))["Action"]!);
        Assert.Equal("SUCCEEDED", (string)(await EndedAsync(scene))["status"]!);
        Assert.Single(await scene.World.HistoryAsync(scene.ExecutionArn), e => (string?)e!["type"] == "TaskSucceeded");
    }

    [Fact]
    public async Task A_role_not_allowed_fails_the_task_by_name_and_submits_nothing()
    {
        // moto runs one StartExecution a region (DEVELOPERS.md): the second case is a task moto never issued, whose
        // failure Step Functions then refuses; what BatchSync sent is read on its way there.
        using var scene = await StartAsync("ap-southeast-6", allowedRoles: "arn:aws:iam::123456789012:role/research-*");
        var (submitted, payload) = await SubmitAsync(scene);
        Assert.Equal(NotAllowedException.Name, (string)submitted["Error"]!);
        Assert.Contains($"service role \"{Role}\" (ServiceRequestPayload.RoleArn) is not one of the allowed service roles (arn:aws:iam::123456789012:role/research-*)", (string)submitted["Cause"]!);
        Assert.Equal(NotAllowedException.Name, (string)JsonNode.Parse((string)(await EndedAsync(scene))["output"]!)!["error"]!["Error"]!);

        scene.World.ExportEnvironment(extra: new Dictionary<string, string?> { [SubmitPermissions.ServiceRolesVariable] = "" });
        var another = (JsonObject)payload.DeepClone();
        another["TaskToken"] = $"never-issued-{Guid.NewGuid():N}";
        var off = await InvokeAsync("SubmitJobFunction", another);
        Assert.Equal(NotAllowedException.Name, (string)off["Error"]!);
        Assert.Contains("service jobs are off: no SageMaker execution role is allowed (template parameter AllowedServiceRoles)", (string)off["Cause"]!);

        Assert.Equal(0, scene.Jobs.Calls("SubmitServiceJob"));
        var failures = scene.Jobs.StepFunctionsCalls.Where(c => c.Operation == "SendTaskFailure").Select(c => c.Request).ToList();
        Assert.Equal(2, failures.Count);
        Assert.All(failures, f => Assert.Equal(NotAllowedException.Name, (string)f["error"]!));
    }

    [Fact]
    public async Task Another_service_job_in_the_queue_costs_one_describe_for_its_RUNNING_event_and_none_for_its_end()
    {
        using var scene = await StartAsync("ap-southeast-7");
        var foreign = (string)(await scene.World.BatchAsync("SubmitServiceJob", new JsonObject
        {
            ["jobName"] = "someone-elses", ["jobQueue"] = "training", ["serviceJobType"] = "SAGEMAKER_TRAINING", ["serviceRequestPayload"] = TrainingJob,
        }))["jobId"]!;
        scene.Jobs.Advance(foreign, "RUNNING");
        var before = scene.Jobs.Calls("DescribeServiceJob");
        var running = await EventAsync(scene, foreign);
        Assert.Equal("Ignored", (string)running["Action"]!);
        Assert.Equal(1, scene.Jobs.Calls("DescribeServiceJob") - before);
        scene.Jobs.Succeed(foreign);
        var ended = await EventAsync(scene, foreign);
        Assert.Equal(("Ignored", TaskDecisions.ForeignServiceJob), ((string)ended["Action"]!, (string)ended["Reason"]!));
        Assert.Equal(1, scene.Jobs.Calls("DescribeServiceJob") - before);
        Assert.Equal(0, scene.Jobs.Calls("TerminateServiceJob"));
    }
}
