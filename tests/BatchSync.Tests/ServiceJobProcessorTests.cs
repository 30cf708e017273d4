using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using BatchSync.Aws;
using BatchSync.Domain;
using BatchSync.Processing;

namespace BatchSync.Tests;

/// <summary>
/// Issue 21 through the processors, with the fakes (FakeBatch's service jobs reject a reused clientToken, as the
/// model's doc says): submit, answers, typed failures, stop, the sweep, retries and foreign jobs. Expected answers are
/// written by hand from the User Guide's samples (Fixtures/service-jobs).
/// </summary>
[Collection(LogCapture.Collection)]
public class ServiceJobProcessorTests
{
    private const string Token = "AQCEAAAAKgAAAAMAAAAAAAAAAfake-service-task-token-0001";
    private const string ExecutionArn = "arn:aws:states:us-east-1:123456789012:execution:flow:run-7";
    private const string JobId = "service-job-1";
    private const string TrainingJob = "arn:aws:sagemaker:us-east-1:123456789012:training-job/AWSBatchmy-training-job88b610a69aa8380ca5b0a7aba3f81cb8";
    private static readonly string Key = TaskKey.For(Token);
    private static readonly string Marker = TaskKey.Marker(FakeWorld.Namespace, Key);
    private readonly FakeWorld _world = new();

    private static byte[] Payload(string extra = "", string token = Token) => Fixtures.Utf8(ServiceJobMappingTests.Service(extra, token: token));

    private static readonly string WithOptions = $$"""
        ,"ExecutionArn":"{{ExecutionArn}}","BatchSync":{"TypedErrors":true,"Links":true}
        """;

    /// <summary>
    /// What DescribeServiceJob says of the job once it ended, shaped as the User Guide's getting-started output (with
    /// milliseconds, as the model says, and the tags the job was submitted with).
    /// </summary>
    private static JsonObject Described(string status, string reason, bool terminated = false, string jobId = JobId, string? marker = null)
    {
        var job = JsonNode.Parse($$$"""
            {"attempts":[{"serviceResourceId":{"name":"TrainingJobArn","value":"{{{TrainingJob}}}"},"startedAt":1641944300058,"stoppedAt":1641944400058,"statusReason":"{{{reason}}}"}],
             "createdAt":1641944200058,"jobArn":"arn:aws:batch:us-east-1:123456789012:service-job/{{{jobId}}}","jobId":"{{{jobId}}}","jobName":"train",
             "jobQueue":"arn:aws:batch:us-east-1:123456789012:job-queue/sm-queue",
             "latestAttempt":{"serviceResourceId":{"name":"TrainingJobArn","value":"{{{TrainingJob}}}"}},
             "retryStrategy":{"attempts":1,"evaluateOnExit":[]},
             "serviceRequestPayload":{{{ServiceJobMappingTests.Lit(ServiceJobMappingTests.TrainingPayload)}}},
             "serviceJobType":"SAGEMAKER_TRAINING","startedAt":1641944300058,"status":"{{{status}}}","statusReason":"{{{reason}}}","stoppedAt":1641944400058,
             "tags":{"team":"ml","BatchSyncTask":"{{{marker ?? Marker}}}"},
             "timeoutConfig":{"attemptDurationSeconds":3600}}
            """)!.AsObject();
        if (terminated)
        {
            job["isTerminated"] = true;
        }
        return job;
    }

    private void BatchHas(JsonObject described) =>
        _world.Batch.Jobs[(string)described["jobId"]!] = JsonDocument.Parse(described.ToJsonString()).RootElement.Clone();

    /// <summary>The "Batch Service Job State Change" event of a described job: the User Guide's envelope, the detail without tags and payload.</summary>
    private static byte[] EventOf(JsonObject described)
    {
        var detail = (JsonObject)described.DeepClone();
        detail.Remove("tags");
        detail.Remove("serviceRequestPayload");
        var evt = Fixtures.Node("service-jobs/event-userguide.json").AsObject();
        evt["resources"] = new JsonArray((string)detail["jobArn"]!);
        evt["detail"] = detail;
        return Fixtures.Utf8(evt.ToJsonString());
    }

    private static byte[] RunningEvent(string jobId = JobId) => EventOf(new JsonObject
    {
        ["jobArn"] = $"arn:aws:batch:us-east-1:123456789012:service-job/{jobId}", ["jobId"] = jobId, ["jobName"] = "train",
        ["jobQueue"] = "arn:aws:batch:us-east-1:123456789012:job-queue/sm-queue", ["serviceJobType"] = "SAGEMAKER_TRAINING",
        ["status"] = "RUNNING", ["createdAt"] = 1641944200058, ["startedAt"] = 1641944300058,
    });

    private async Task<TaskRecord> SubmittedAsync(string extra = "")
    {
        var answer = await _world.Submitter().SubmitAsync(Payload(extra));
        Assert.Equal(JobId, answer.JobId);
        _world.Log.Calls.Clear();
        return _world.Store.Records[Key];
    }

    // ---- submit ----

    [Fact]
    public async Task A_service_job_is_submitted_once_with_its_marker_tag_and_clientToken_and_its_record_knows_its_kind()
    {
        var answer = await _world.Submitter().SubmitAsync(Payload(",\"Tags\":{\"team\":\"ml\"}"));

        Assert.Equal(["Store.Create", "Batch.SubmitServiceJob", "Store.AttachJob"], _world.Log.Calls);
        Assert.Equal(new SubmitJobResponse($"arn:aws:batch:us-east-1:123456789012:service-job/{JobId}", JobId, "train"), answer);
        Assert.Empty(_world.Batch.Submitted);
        var sent = Assert.Single(_world.Batch.ServiceSubmits);
        Assert.Equal($$"""{"team":"ml","BatchSyncTask":"{{Marker}}"}""", sent["tags"]!.ToJsonString());
        var clientToken = (string)sent["clientToken"]!;
        Assert.InRange(clientToken.Length, 1, 64);
        Assert.Equal(TaskKey.ClientToken(Token), clientToken);
        Assert.DoesNotContain(Token, sent.ToJsonString());
        Assert.Equal(ServiceJobMappingTests.TrainingPayload, (string)sent["serviceRequestPayload"]!);

        var record = _world.Store.Records[Key];
        Assert.Equal((RecordStatus.Submitted, JobId, JobKind.Service, "train", "sm-queue"), (record.Status, record.JobId, record.JobKind, record.JobName, record.JobQueue));
        Assert.Empty(_world.StepFunctions.Sent);
    }

    [Fact]
    public async Task Without_a_token_a_service_job_is_submitted_as_the_request_response_integration_would()
    {
        var answer = await _world.Submitter().SubmitAsync(Fixtures.Utf8(ServiceJobMappingTests.Service(token: null)));
        Assert.Equal(JobId, answer.JobId);
        Assert.Equal(["Batch.SubmitServiceJob"], _world.Log.Calls);
        Assert.False(_world.Batch.ServiceSubmits.Single().ContainsKey("clientToken"));
    }

    [Fact]
    public async Task A_retried_invocation_with_the_same_token_submits_no_second_service_job()
    {
        var first = await _world.Submitter().SubmitAsync(Payload());
        var second = await _world.Submitter().SubmitAsync(Payload());

        Assert.Single(_world.Batch.ServiceSubmits);
        Assert.Equal(first, second);
        Assert.Equal(1, _world.Log.Calls.Count(c => c == "Batch.SubmitServiceJob"));
    }

    [Fact]
    public async Task Concurrent_invocations_with_one_token_make_one_service_job()
    {
        _world.Batch.SubmitDelay = TimeSpan.FromMilliseconds(300);
        var answers = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => Task.Run(() => _world.Submitter().SubmitAsync(Payload()))));

        Assert.Single(_world.Batch.ServiceSubmits);
        Assert.Single(_world.Batch.Jobs);
        Assert.Equal(JobId, _world.Store.Records[Key].JobId);
        Assert.All(answers, a => Assert.Null(a.Error));
    }

    [Fact]
    public async Task A_refused_duplicate_clientToken_adopts_the_service_job_that_carries_the_marker()
    {
        // The first submit made the job, but its answer said "throttled" (Batch did nothing, so the lease says NotSent).
        var once = true;
        _world.Batch.FailAfterSubmit = () =>
        {
            var e = once ? new AwsServiceException("AWSBatch", "SubmitServiceJob", (HttpStatusCode)429, "TooManyRequestsException", "Too Many Requests", "r-1") : null;
            once = false;
            return e;
        };
        await Assert.ThrowsAsync<TransientFailureException>(() => _world.Submitter().SubmitAsync(Payload()));
        Assert.Equal(SubmitState.NotSent, _world.Store.Records[Key].Submit);
        _world.Log.Calls.Clear();

        // The retry submits again with the same clientToken; Batch rejects it; the job is found by its marker and adopted.
        var answer = await _world.Submitter().SubmitAsync(Payload());

        Assert.Equal(2, _world.Batch.ServiceSubmits.Count);
        Assert.Equal(_world.Batch.ServiceSubmits[0]["clientToken"]!.ToJsonString(), _world.Batch.ServiceSubmits[1]["clientToken"]!.ToJsonString());
        Assert.Single(_world.Batch.Jobs);
        Assert.Equal(JobId, answer.JobId);
        Assert.Null(answer.Error);
        var record = _world.Store.Records[Key];
        Assert.Equal((RecordStatus.Submitted, JobId, JobKind.Service), (record.Status, record.JobId, record.JobKind));
        Assert.Empty(_world.StepFunctions.Sent);
        Assert.Empty(_world.Batch.Terminated);
        Assert.Contains("Batch.ListServiceJobs", _world.Log.Calls);
        Assert.Contains("Batch.DescribeServiceJob", _world.Log.Calls);
        Assert.DoesNotContain("Batch.ListJobs", _world.Log.Calls);
        Assert.DoesNotContain("Batch.DescribeJobs", _world.Log.Calls);
    }

    [Fact]
    public async Task A_refusal_with_no_job_carrying_the_marker_fails_the_task_natively()
    {
        _world.Batch.SubmitError = new AwsServiceException("AWSBatch", "SubmitServiceJob", HttpStatusCode.BadRequest, "ClientException", "Job queue sm-queue is not of type SAGEMAKER_TRAINING", "r-2");

        var answer = await _world.Submitter().SubmitAsync(Payload());

        var sent = _world.StepFunctions.Sent.Single();
        Assert.Equal(("SendTaskFailure", "Batch.ClientException"), (sent.Operation, sent.Error));
        Assert.Equal("Job queue sm-queue is not of type SAGEMAKER_TRAINING (Service: AWSBatch; Status Code: 400; Error Code: ClientException; Request ID: r-2; Proxy: null)", sent.Cause);
        Assert.Equal("Batch.ClientException", answer.Error);
        Assert.Equal(RecordStatus.Failed, _world.Store.Records[Key].Status);
    }

    [Fact]
    public async Task With_no_allowed_service_role_a_service_job_fails_NotAllowed_and_nothing_is_called_at_Batch()
    {
        var submitter = new JobSubmitter(_world.Batch, _world.StepFunctions, _world.Store, FakeWorld.Namespace, TimeProvider.System)
        {
            Permissions = SubmitPermissions.FromLists(null, null, null),
        };
        var answer = await submitter.SubmitAsync(Payload());

        Assert.Equal("BatchSync.NotAllowed", answer.Error);
        var sent = _world.StepFunctions.Sent.Single();
        Assert.Equal(("SendTaskFailure", Token, "BatchSync.NotAllowed"), (sent.Operation, sent.Token, sent.Error));
        Assert.DoesNotContain(_world.Log.Calls, c => c.StartsWith("Batch.", StringComparison.Ordinal));

        // A container job through the same stack is unaffected.
        var container = await submitter.SubmitAsync(Fixtures.Utf8("""{"JobName":"j","JobQueue":"q","JobDefinition":"d","TaskToken":"container-token"}"""));
        Assert.Equal("job-1", container.JobId);
    }

    [Fact]
    public async Task An_allowed_service_role_is_submitted_and_another_refused_by_name()
    {
        var submitter = new JobSubmitter(_world.Batch, _world.StepFunctions, _world.Store, FakeWorld.Namespace, TimeProvider.System)
        {
            Permissions = SubmitPermissions.FromLists(null, null, "arn:aws:iam::123456789012:role/SageMaker*"),
        };
        Assert.Equal(JobId, (await submitter.SubmitAsync(Payload())).JobId);

        var other = await submitter.SubmitAsync(Fixtures.Utf8(ServiceJobMappingTests.Service(
            payload: """{"TrainingJobName":"t","RoleArn":"arn:aws:iam::123456789012:role/Admin"}""", token: "other-token")));
        Assert.Equal("BatchSync.NotAllowed", other.Error);
        Assert.Contains("arn:aws:iam::123456789012:role/Admin", _world.StepFunctions.Sent.Single().Cause);
        Assert.Single(_world.Batch.ServiceSubmits);
    }

    // ---- answers ----

    [Fact]
    public async Task Success_is_the_DescribeServiceJob_detail_in_PascalCase_with_members_sorted()
    {
        await SubmittedAsync(",\"Tags\":{\"team\":\"ml\"}");
        var done = Described("SUCCEEDED", "Received status from SageMaker: Training job completed");
        BatchHas(done);

        var response = await _world.Events().HandleAsync(EventOf(done));

        Assert.Equal("Succeeded", response.Action);
        Assert.Contains("Batch.DescribeServiceJob", _world.Log.Calls);
        Assert.DoesNotContain("Batch.DescribeJobs", _world.Log.Calls);
        var sent = _world.StepFunctions.Sent.Single();
        Assert.Equal(("SendTaskSuccess", Token), (sent.Operation, sent.Token));
        var output = JsonNode.Parse(sent.Output!)!.AsObject();
        // Written from DescribeServiceJob (the event has neither tags nor the payload), PascalCase at every depth, sorted.
        var expected = JsonNode.Parse($$$"""
            {"Attempts":[{"ServiceResourceId":{"Name":"TrainingJobArn","Value":"{{{TrainingJob}}}"},"StartedAt":1641944300058,"StatusReason":"Received status from SageMaker: Training job completed","StoppedAt":1641944400058}],
             "CreatedAt":1641944200058,
             "JobArn":"arn:aws:batch:us-east-1:123456789012:service-job/service-job-1",
             "JobId":"service-job-1",
             "JobName":"train",
             "JobQueue":"arn:aws:batch:us-east-1:123456789012:job-queue/sm-queue",
             "LatestAttempt":{"ServiceResourceId":{"Name":"TrainingJobArn","Value":"{{{TrainingJob}}}"}},
             "RetryStrategy":{"Attempts":1,"EvaluateOnExit":[]},
             "ServiceJobType":"SAGEMAKER_TRAINING",
             "ServiceRequestPayload":{{{ServiceJobMappingTests.Lit(ServiceJobMappingTests.TrainingPayload)}}},
             "StartedAt":1641944300058,
             "Status":"SUCCEEDED",
             "StatusReason":"Received status from SageMaker: Training job completed",
             "StoppedAt":1641944400058,
             "TimeoutConfig":{"AttemptDurationSeconds":3600}}
            """)!.AsObject();
        Assert.Equal(["Attempts", "CreatedAt", "JobArn", "JobId"], output.Select(m => m.Key).Take(4));
        // Tags: the caller's are kept (whether BatchSync's marker tag shows is not asserted here: see the report).
        Assert.Equal("ml", (string)output["Tags"]!["team"]!);
        output.Remove("Tags");
        Fixtures.AssertSameJson(expected, output);
        Assert.Equal(RecordStatus.Succeeded, _world.Store.Records[Key].Status);
    }

    [Fact]
    public async Task Failure_is_the_stacks_failure_name_with_the_detail_as_its_cause()
    {
        await SubmittedAsync();
        const string Reason = "Received status from SageMaker: AlgorithmError: framework error, exit code 1";
        var failed = Described("FAILED", Reason);
        BatchHas(failed);

        var response = await _world.Events().HandleAsync(EventOf(failed));

        Assert.Equal("Failed", response.Action);
        var sent = _world.StepFunctions.Sent.Single();
        Assert.Equal(("SendTaskFailure", "States.TaskFailed"), (sent.Operation, sent.Error));
        var cause = JsonNode.Parse(sent.Cause!)!.AsObject();
        Assert.Equal(("FAILED", Reason, "service-job-1", "SAGEMAKER_TRAINING"), ((string)cause["Status"]!, (string)cause["StatusReason"]!, (string)cause["JobId"]!, (string)cause["ServiceJobType"]!));
        Assert.Equal(ServiceJobMappingTests.TrainingPayload, (string)cause["ServiceRequestPayload"]!);
        Assert.DoesNotContain("BatchSyncFailure", sent.Cause);
        Assert.DoesNotContain("BatchSyncLinks", sent.Cause);
        var names = cause.Select(m => m.Key).ToList();
        Assert.Equal(names.Order(StringComparer.Ordinal), names);
        Assert.Equal(RecordStatus.Failed, _world.Store.Records[Key].Status);
    }

    [Fact]
    public async Task A_stack_with_its_own_failure_name_fails_a_service_job_with_it()
    {
        await SubmittedAsync();
        var failed = Described("FAILED", "Received status from SageMaker: AlgorithmError");
        BatchHas(failed);
        var events = new JobEventProcessor(_world.Batch, _world.StepFunctions, _world.Store, FakeWorld.Namespace, answers: new Failures.AnswerSettings("Training.Failed"));

        await events.HandleAsync(EventOf(failed));

        var sent = _world.StepFunctions.Sent.Single();
        Assert.Equal("Training.Failed", sent.Error);
        Assert.Equal("FAILED", (string)JsonNode.Parse(sent.Cause!)!["Status"]!);
    }

    [Fact]
    public async Task Typed_errors_name_a_SageMaker_failure_with_its_training_job_and_links_to_SageMaker()
    {
        await SubmittedAsync(WithOptions);
        const string Reason = "Received status from SageMaker: AlgorithmError: framework error, exit code 1";
        var failed = Described("FAILED", Reason);
        BatchHas(failed);

        await _world.Events().HandleAsync(EventOf(failed));

        var sent = _world.StepFunctions.Sent.Single();
        Assert.Equal("BatchJob.TrainingJobFailed", sent.Error);
        var cause = JsonNode.Parse(sent.Cause!)!.AsObject();
        Assert.Equal($$"""{"Attempt":1,"Kind":"BatchJob.TrainingJobFailed","Reason":"{{Reason}}","TrainingJobArn":"{{TrainingJob}}"}""", cause["BatchSyncFailure"]!.ToJsonString());
        const string Name = "AWSBatchmy-training-job88b610a69aa8380ca5b0a7aba3f81cb8";
        Assert.Equal(
            $$"""{"Execution":"https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/{{ExecutionArn}}","TrainingJob":"https://us-east-1.console.aws.amazon.com/sagemaker/home?region=us-east-1#/jobs/{{Name}}","TrainingJobLogs":"https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logStream:group=/aws/sagemaker/TrainingJobs;prefix={{Name}};streamFilter=typeLogStreamPrefix"}""",
            cause["BatchSyncLinks"]!.ToJsonString());
        var names = cause.Select(m => m.Key).ToList();
        Assert.Equal(names.Order(StringComparer.Ordinal), names);
    }

    [Fact]
    public async Task Typed_errors_name_a_terminated_service_job_Terminated()
    {
        await SubmittedAsync(WithOptions);
        var stopped = Described("FAILED", "Stopped by the operator", terminated: true);
        BatchHas(stopped);

        await _world.Events().HandleAsync(EventOf(stopped));

        var sent = _world.StepFunctions.Sent.Single();
        Assert.Equal("BatchJob.Terminated", sent.Error);
        Assert.Equal("BatchJob.Terminated", (string)JsonNode.Parse(sent.Cause!)!["BatchSyncFailure"]!["Kind"]!);
    }

    [Fact]
    public async Task A_success_with_links_carries_the_SageMaker_links()
    {
        await SubmittedAsync(WithOptions);
        var done = Described("SUCCEEDED", "Received status from SageMaker: Training job completed");
        BatchHas(done);

        await _world.Events().HandleAsync(EventOf(done));

        var output = JsonNode.Parse(_world.StepFunctions.Sent.Single().Output!)!.AsObject();
        Assert.StartsWith("https://us-east-1.console.aws.amazon.com/sagemaker/home?region=us-east-1#/jobs/AWSBatchmy-training-job", (string)output["BatchSyncLinks"]!["TrainingJob"]!);
    }

    [Fact]
    public async Task A_running_event_of_the_named_job_heartbeats_without_calling_Batch()
    {
        await SubmittedAsync();

        var response = await _world.Events().HandleAsync(RunningEvent());

        Assert.Equal("Waiting", response.Action);
        Assert.Equal(["Store.FindByJobId", "StepFunctions.SendTaskHeartbeat"], _world.Log.Calls);
    }

    [Fact]
    public async Task A_running_event_before_the_submit_was_noted_attaches_the_job_found_by_its_marker_tag()
    {
        _world.Store.Records[Key] = new TaskRecord { TaskKey = Key, TaskToken = Token, Status = RecordStatus.Submitting, JobKind = JobKind.Service, JobName = "train", JobQueue = "sm-queue" };
        var running = Described("RUNNING", "");
        BatchHas(running);

        var response = await _world.Events().HandleAsync(RunningEvent());

        Assert.Equal("Waiting", response.Action);
        var record = _world.Store.Records[Key];
        Assert.Equal((JobId, JobKind.Service), (record.JobId, record.JobKind));
        Assert.Contains("Batch.DescribeServiceJob", _world.Log.Calls);
    }

    [Fact]
    public async Task A_running_service_job_of_ours_that_no_task_waits_for_is_terminated_with_TerminateServiceJob()
    {
        _world.Store.Records[Key] = new TaskRecord { TaskKey = Key, TaskToken = Token, Status = RecordStatus.Submitted, JobId = "the-first-job", JobKind = JobKind.Service };
        BatchHas(Described("RUNNING", "", jobId: "second-job"));

        var response = await _world.Events().HandleAsync(RunningEvent("second-job"));

        Assert.Equal("Terminated", response.Action);
        Assert.Equal("second-job", Assert.Single(_world.Batch.Terminated).JobId);
        Assert.Contains("Batch.TerminateServiceJob", _world.Log.Calls);
        Assert.DoesNotContain("Batch.TerminateJob", _world.Log.Calls);
    }

    [Fact]
    public async Task A_heartbeat_that_finds_the_task_gone_terminates_the_service_job_with_TerminateServiceJob()
    {
        await SubmittedAsync();
        _world.StepFunctions.Answer = TaskReply.TaskClosed;

        var response = await _world.Events().HandleAsync(RunningEvent());

        Assert.Equal("Terminated", response.Action);
        Assert.Equal([(JobId, TaskDecisions.TaskClosedReason)], _world.Batch.Terminated);
        Assert.Contains("Batch.TerminateServiceJob", _world.Log.Calls);
        Assert.DoesNotContain("Batch.TerminateJob", _world.Log.Calls);
    }

    // ---- foreign service jobs ----

    [Theory]
    [InlineData("SUCCEEDED")]
    [InlineData("FAILED")]
    public async Task A_foreign_service_jobs_final_event_costs_one_store_lookup_and_no_Batch_call(string status)
    {
        var foreign = Described(status, "Received status from SageMaker: whatever", jobId: "someone-elses-job", marker: "otherstack:abc");

        var response = await _world.Events().HandleAsync(EventOf(foreign));

        Assert.Equal("Ignored", response.Action);
        Assert.Equal(["Store.FindByJobId"], _world.Log.Calls);
        Assert.Empty(_world.StepFunctions.Sent);
    }

    [Fact]
    public async Task A_foreign_service_jobs_progress_event_is_read_once_from_Batch_and_left_alone()
    {
        BatchHas(Described("RUNNING", "", jobId: "someone-elses-job", marker: "otherstack:abc"));

        var response = await _world.Events().HandleAsync(RunningEvent("someone-elses-job"));

        Assert.Equal("Ignored", response.Action);
        Assert.Equal(["Store.FindByJobId", "Batch.DescribeServiceJob"], _world.Log.Calls);
        Assert.Empty(_world.Batch.Terminated);
    }

    [Fact]
    public async Task The_User_Guides_sample_event_with_no_record_is_ignored()
    {
        var response = await _world.Events().HandleAsync(Fixtures.Bytes("service-jobs/event-userguide.json"));
        Assert.Equal("Ignored", response.Action);
        Assert.Equal(["Store.FindByJobId"], _world.Log.Calls);
    }

    // ---- lifecycle ----

    [Fact]
    public async Task Stopping_the_execution_terminates_the_service_job_with_TerminateServiceJob()
    {
        await SubmittedAsync(WithOptions);

        var answer = await _world.Reconciler().StopAsync(new ExecutionStatusEvent(ExecutionArn, "ABORTED", null));

        Assert.Equal((1, 1), (answer.Examined, answer.Terminated));
        var reason = $"The Task state in AWS Step Functions execution [{ExecutionArn}] which was managing this resource was aborted";
        Assert.Equal([(JobId, reason)], _world.Batch.Terminated);
        Assert.Contains("Batch.TerminateServiceJob", _world.Log.Calls);
        Assert.DoesNotContain("Batch.TerminateJob", _world.Log.Calls);
        Assert.Equal(RecordStatus.Closed, _world.Store.Records[Key].Status);
    }

    private void OpenDue(string token, string jobId, JobKind kind)
    {
        var key = TaskKey.For(token);
        _world.Store.Records[key] = new TaskRecord
        {
            TaskKey = key, TaskToken = token, Status = RecordStatus.Submitted, JobId = jobId, JobKind = kind, JobName = "train", JobQueue = "sm-queue",
            CreatedAt = 0, NextCheckAt = 0,
        };
    }

    [Fact]
    public async Task The_sweep_describes_each_service_job_once_and_delivers_a_lost_outcome()
    {
        // Three service jobs (one whose final event was lost) and two container jobs.
        for (var i = 0; i < 3; i++)
        {
            OpenDue($"s{i}", $"svc-{i}", JobKind.Service);
            BatchHas(Described(i == 0 ? "SUCCEEDED" : "RUNNING", "Received status from SageMaker: Training job completed", jobId: $"svc-{i}",
                marker: TaskKey.Marker(FakeWorld.Namespace, TaskKey.For($"s{i}"))));
        }
        for (var i = 0; i < 2; i++)
        {
            OpenDue($"c{i}", $"job-{i}", JobKind.Container);
            _world.Batch.Jobs[$"job-{i}"] = FakeWorld.Detail(FakeWorld.Event($"job-{i}", "RUNNING", TaskKey.Marker(FakeWorld.Namespace, TaskKey.For($"c{i}"))));
        }

        var answer = await _world.Reconciler().SweepAsync();

        Assert.Equal((5, 1, 4), (answer.Examined, answer.Delivered, answer.Heartbeats));
        Assert.Equal(3, _world.Log.Calls.Count(c => c == "Batch.DescribeServiceJob"));
        Assert.Equal(1, _world.Log.Calls.Count(c => c == "Batch.DescribeJobs"));
        var success = _world.StepFunctions.Sent.Single(s => s.Operation == "SendTaskSuccess");
        Assert.Equal("s0", success.Token);
        var output = JsonNode.Parse(success.Output!)!;
        Assert.Equal(("svc-0", "SUCCEEDED", "SAGEMAKER_TRAINING"), ((string)output["JobId"]!, (string)output["Status"]!, (string)output["ServiceJobType"]!));
        Assert.Equal(RecordStatus.Succeeded, _world.Store.Records[TaskKey.For("s0")].Status);
    }

    [Fact]
    public async Task The_sweep_paces_its_DescribeServiceJob_calls()
    {
        for (var i = 0; i < 4; i++)
        {
            OpenDue($"s{i}", $"svc-{i}", JobKind.Service);
            BatchHas(Described("RUNNING", "", jobId: $"svc-{i}", marker: TaskKey.Marker(FakeWorld.Namespace, TaskKey.For($"s{i}"))));
        }
        var reconciler = new Reconciler(_world.Batch, _world.StepFunctions, _world.Store, FakeWorld.Namespace, TimeProvider.System) { ServiceDescribesPerSecond = 4 };
        var started = System.Diagnostics.Stopwatch.StartNew();

        var answer = await reconciler.SweepAsync();

        // A bucket of 4 a second that starts full lets 4 through at once; a fifth would wait. Then 1 a second: 2 calls take 1 s.
        Assert.Equal(4, answer.Heartbeats);
        Assert.Equal(4, _world.Log.Calls.Count(c => c == "Batch.DescribeServiceJob"));
        var slow = new Reconciler(_world.Batch, _world.StepFunctions, _world.Store, FakeWorld.Namespace, TimeProvider.System) { ServiceDescribesPerSecond = 1 };
        foreach (var record in _world.Store.Records.Values.ToList())
        {
            _world.Store.Records[record.TaskKey] = record with { NextCheckAt = 0 };
        }
        started.Restart();
        var again = await slow.SweepAsync();
        Assert.Equal(4, again.Heartbeats);
        Assert.True(started.Elapsed >= TimeSpan.FromSeconds(2.5), $"4 describes at 1 a second (one at once) took {started.Elapsed}");
    }

    // ---- more of the lifecycle ----

    [Fact]
    public async Task A_submit_whose_answer_was_lost_finds_the_service_job_by_its_marker_tag_and_adopts_it()
    {
        var once = true;
        _world.Batch.FailAfterSubmit = () =>
        {
            var e = once ? new AwsServiceException("AWSBatch", "SubmitServiceJob", HttpStatusCode.InternalServerError, "ServerException", "internal", "r-3") : null;
            once = false;
            return e;
        };

        var answer = await _world.Submitter().SubmitAsync(Payload());

        Assert.Equal(JobId, answer.JobId);
        Assert.Single(_world.Batch.ServiceSubmits);
        var record = _world.Store.Records[Key];
        Assert.Equal((RecordStatus.Submitted, JobId, JobKind.Service), (record.Status, record.JobId, record.JobKind));
        Assert.Contains("Batch.ListServiceJobs", _world.Log.Calls);
        Assert.DoesNotContain("Batch.ListJobs", _world.Log.Calls);
    }

    [Fact]
    public async Task A_lost_submit_answer_with_lagging_lists_is_settled_by_the_sweep_with_the_service_job_operations()
    {
        _world.Batch.HideSubmitted = true;
        var once = true;
        _world.Batch.FailAfterSubmit = () =>
        {
            var e = once ? new AwsTransportException("AWSBatch", "SubmitServiceJob", 1, new HttpRequestException("reset")) : null;
            once = false;
            return e;
        };
        var first = await _world.Submitter().SubmitAsync(Payload());
        Assert.Null(first.JobId);
        Assert.Equal((RecordStatus.Submitting, null), (_world.Store.Records[Key].Status, _world.Store.Records[Key].JobId));

        _world.Batch.RevealAll();
        _world.Log.Calls.Clear();
        var later = DateTimeOffset.UtcNow + TimeSpan.FromHours(1);
        await _world.Reconciler(later).SweepAsync();

        Assert.Equal(JobId, _world.Store.Records[Key].JobId);
        Assert.Single(_world.Batch.ServiceSubmits);
        Assert.Contains("Batch.ListServiceJobs", _world.Log.Calls);
        Assert.DoesNotContain(_world.Log.Calls, c => c is "Batch.ListJobs" or "Batch.DescribeJobs" or "Batch.SubmitServiceJob");
    }

    [Fact]
    public async Task A_service_job_whose_task_closed_during_the_submit_is_terminated_with_TerminateServiceJob()
    {
        _world.Store.BeforeAttach = () =>
        {
            var open = _world.Store.Records[Key];
            _world.Store.Records[Key] = open with { Status = RecordStatus.Closed, Reason = "execution stopped" };
        };

        await _world.Submitter().SubmitAsync(Payload());

        Assert.Equal(JobId, Assert.Single(_world.Batch.Terminated).JobId);
        Assert.Contains("Batch.TerminateServiceJob", _world.Log.Calls);
        Assert.DoesNotContain("Batch.TerminateJob", _world.Log.Calls);
    }

    [Fact]
    public async Task A_service_job_Batch_does_not_know_is_noted_missing_before_its_task_fails()
    {
        OpenDue("s0", "svc-gone", JobKind.Service);

        var first = await _world.Reconciler().SweepAsync();

        Assert.Equal((1, 0), (first.Examined, first.Failed));
        Assert.NotNull(_world.Store.Records[TaskKey.For("s0")].JobMissingSince);
        Assert.Equal(["Batch.DescribeServiceJob"], _world.Log.Calls.Where(c => c.StartsWith("Batch.", StringComparison.Ordinal)).Distinct());
    }

    [Fact]
    public async Task A_failure_with_a_large_payload_fits_the_cause_and_names_what_it_left_out()
    {
        await SubmittedAsync();
        var big = Described("FAILED", "Received status from SageMaker: AlgorithmError");
        big["serviceRequestPayload"] = $$$"""{"TrainingJobName":"t","RoleArn":"arn:aws:iam::123456789012:role/r","HyperParameters":{"blob":"{{{new string('x', 40_000)}}}"}}""";
        BatchHas(big);

        await _world.Events().HandleAsync(EventOf(big));

        var sent = _world.StepFunctions.Sent.Single();
        Assert.True(sent.Cause!.Length <= 32_768, $"cause of {sent.Cause.Length} characters");
        var cause = JsonNode.Parse(sent.Cause)!.AsObject();
        Assert.Equal(["ServiceRequestPayload"], cause["BatchSyncOmitted"]!.AsArray().Select(n => (string)n!));
        Assert.Equal(("service-job-1", "FAILED", "Received status from SageMaker: AlgorithmError"), ((string)cause["JobId"]!, (string)cause["Status"]!, (string)cause["StatusReason"]!));
        Assert.NotNull(cause["Attempts"]);
    }

    [Fact]
    public async Task A_sweep_heartbeat_that_finds_the_task_gone_terminates_the_service_job_with_TerminateServiceJob()
    {
        OpenDue("s0", "svc-0", JobKind.Service);
        BatchHas(Described("RUNNING", "", jobId: "svc-0", marker: TaskKey.Marker(FakeWorld.Namespace, TaskKey.For("s0"))));
        _world.StepFunctions.Answer = TaskReply.TaskClosed;

        await _world.Reconciler().SweepAsync();

        Assert.Equal("svc-0", Assert.Single(_world.Batch.Terminated).JobId);
        Assert.Contains("Batch.TerminateServiceJob", _world.Log.Calls);
        Assert.DoesNotContain("Batch.TerminateJob", _world.Log.Calls);
        Assert.Equal(RecordStatus.Closed, _world.Store.Records[TaskKey.For("s0")].Status);
    }

    [Fact]
    public async Task A_log_tail_asked_of_a_service_job_says_where_its_logs_are_and_reads_none()
    {
        await SubmittedAsync(",\"BatchSync\":{\"LogTail\":20}");
        var failed = Described("FAILED", "Received status from SageMaker: AlgorithmError");
        BatchHas(failed);

        await _world.Events().HandleAsync(EventOf(failed));

        var cause = JsonNode.Parse(_world.StepFunctions.Sent.Single().Cause!)!;
        Assert.Contains("/aws/sagemaker/TrainingJobs", (string)cause["BatchSyncLogTail"]!["Omitted"]!);
        Assert.DoesNotContain(_world.Log.Calls, c => c.StartsWith("Logs.", StringComparison.Ordinal));
    }

    [Fact]
    public async Task When_DescribeServiceJob_lags_the_answer_is_the_events_own_detail_in_the_service_jobs_shape()
    {
        await SubmittedAsync();
        var done = Described("SUCCEEDED", "Received status from SageMaker: Training job completed");
        BatchHas(Described("RUNNING", ""));

        await _world.Events().HandleAsync(EventOf(done));

        var output = JsonNode.Parse(_world.StepFunctions.Sent.Single().Output!)!.AsObject();
        Assert.Equal(("SUCCEEDED", "SAGEMAKER_TRAINING"), ((string)output["Status"]!, (string)output["ServiceJobType"]!));
        Assert.False(output.ContainsKey("Tags"));
        Assert.False(output.ContainsKey("ServiceRequestPayload"));
        var names = output.Select(m => m.Key).ToList();
        Assert.Equal(names.Order(StringComparer.Ordinal), names);
    }

    [Fact]
    public async Task Records_keep_their_jobs_kind_in_the_store()
    {
        var store = new InMemoryRecordStore(_world.Log);
        await StoreContract.JobKindsAsync(store);
    }

    // ---- "not both" keeps the task token (a bug these tests found, fixed in 25f20b4) ----

    [Fact]
    public async Task Both_JobDefinition_and_ServiceJobType_with_a_token_fail_the_task_through_its_token_like_any_invalid_input()
    {
        // Every other invalid payload with a token is answered through the token (a record, SendTaskFailure
        // BatchSync.InvalidInput); SubmitRequestMapper.Read's "not both" answer is built with TaskToken null, so
        // JobSubmitter throws instead and nothing is recorded.
        var answer = await _world.Submitter().SubmitAsync(Payload(",\"JobDefinition\":\"d\""));

        Assert.Equal("BatchSync.InvalidInput", answer.Error);
        var sent = _world.StepFunctions.Sent.Single();
        Assert.Equal(("SendTaskFailure", Token, "BatchSync.InvalidInput"), (sent.Operation, sent.Token, sent.Error));
        Assert.Contains("not both", sent.Cause);
        Assert.Equal(RecordStatus.Failed, _world.Store.Records[Key].Status);
        Assert.DoesNotContain(_world.Log.Calls, c => c.StartsWith("Batch.", StringComparison.Ordinal));
    }
}
