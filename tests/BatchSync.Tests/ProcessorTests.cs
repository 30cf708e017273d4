using System.Text.Json.Nodes;
using BatchSync.Aws;
using BatchSync.Domain;

namespace BatchSync.Tests;

[Collection(LogCapture.Collection)]
public class JobSubmitterTests
{
    private const string Token = "AQCEAAAAKgAAAAMAAAAAAAAAAfake-task-token-0001";
    private static readonly string Payload = $$"""{"JobName":"j","JobQueue":"q","JobDefinition":"d","Parameters":{"InputFile":"a"},"TaskToken":"{{Token}}"}""";
    private readonly FakeWorld _world = new();

    [Fact]
    public async Task With_a_token_the_record_is_written_before_the_job_is_submitted()
    {
        var answer = await _world.Submitter().SubmitAsync(Fixtures.Utf8(Payload));

        Assert.Equal(["Store.Create", "Batch.SubmitJob", "Store.AttachJob"], _world.Log.Calls);
        Assert.Equal("job-1", answer.JobId);
        var record = _world.Store.Records.Values.Single();
        Assert.Equal((RecordStatus.Submitted, "job-1", Token), (record.Status, record.JobId, record.TaskToken));
        var submitted = _world.Batch.Submitted.Single();
        Assert.Equal($"{FakeWorld.Namespace}:{TaskKey.For(Token)}", (string)submitted["parameters"]![TaskKey.MarkerParameter]!);
        Assert.Equal("a", (string)submitted["parameters"]!["InputFile"]!);
        Assert.DoesNotContain(Token, JsonText.ToText(submitted));
        Assert.Empty(_world.StepFunctions.Sent);
    }

    [Fact]
    public async Task A_retried_invocation_with_the_same_token_submits_once_and_answers_the_same()
    {
        var first = await _world.Submitter().SubmitAsync(Fixtures.Utf8(Payload));
        var second = await _world.Submitter().SubmitAsync(Fixtures.Utf8(Payload));

        Assert.Single(_world.Batch.Submitted);
        Assert.Equal(first, second);
    }

    [Fact]
    public async Task Batch_refusal_fails_the_task_with_the_native_error_and_cause()
    {
        _world.Batch.SubmitError = FakeWorld.BatchError();

        var answer = await _world.Submitter().SubmitAsync(Fixtures.Utf8(Payload));

        var sent = _world.StepFunctions.Sent.Single();
        Assert.Equal(("SendTaskFailure", Token, "Batch.ClientException"), (sent.Operation, sent.Token, sent.Error));
        Assert.Equal("Job queue q does not exist (Service: AWSBatch; Status Code: 400; Error Code: ClientException; Request ID: req-1; Proxy: null)", sent.Cause);
        Assert.Equal("Batch.ClientException", answer.Error);
        Assert.Equal(RecordStatus.Failed, _world.Store.Records.Values.Single().Status);
    }

    [Fact]
    public async Task Invalid_input_with_a_token_fails_the_task_and_submits_nothing()
    {
        var answer = await _world.Submitter().SubmitAsync(Fixtures.Utf8($$"""{"JobName":"j","JobQue":"q","JobDefinition":"d","TaskToken":"{{Token}}"}"""));

        Assert.Empty(_world.Batch.Submitted);
        // The record is kept, ended and naming no job, so a re-invocation answers nothing twice.
        Assert.Equal((RecordStatus.Failed, null), (_world.Store.Records.Values.Single().Status, _world.Store.Records.Values.Single().JobId));
        var sent = _world.StepFunctions.Sent.Single();
        Assert.Equal("BatchSync.InvalidInput", sent.Error);
        Assert.Contains("JobQue: unknown member (did you mean JobQueue?)", sent.Cause);
        Assert.Contains("JobQueue: is required", sent.Cause);
        Assert.Equal("BatchSync.InvalidInput", answer.Error);
    }

    [Fact]
    public async Task Without_a_token_it_answers_like_the_native_request_response_integration()
    {
        var answer = await _world.Submitter().SubmitAsync(Fixtures.Utf8("""{"JobName":"j","JobQueue":"q","JobDefinition":"d","ContainerOverrides":{"Command":["x"]}}"""));

        Assert.Equal(new Processing.SubmitJobResponse("arn:aws:batch:us-east-1:123456789012:job/job-1", "job-1", "j"), answer);
        Assert.Equal(["Batch.SubmitJob"], _world.Log.Calls);
        var submitted = _world.Batch.Submitted.Single();
        Assert.False(submitted.ContainsKey("parameters"));
        Assert.Contains("MANAGED_BY_AWS", JsonText.ToText(submitted));
    }

    [Fact]
    public async Task Without_a_token_failures_throw_named_errors()
    {
        var invalid = await Assert.ThrowsAsync<InvalidInputException>(() => _world.Submitter().SubmitAsync(Fixtures.Utf8("""{"JobName":"j"}""")));
        Assert.Contains("JobQueue: is required", invalid.Message);

        _world.Batch.SubmitError = FakeWorld.BatchError("ServerException", "Failed to create shareIdentifier default", 500);
        var refused = await Assert.ThrowsAsync<BatchSubmitException>(() => _world.Submitter().SubmitAsync(Fixtures.Utf8("""{"JobName":"j","JobQueue":"q","JobDefinition":"d"}""")));
        Assert.Equal("Batch.ServerException", refused.ErrorName);
        Assert.Equal("Failed to create shareIdentifier default (Service: AWSBatch; Status Code: 500; Error Code: ServerException; Request ID: req-1; Proxy: null)", refused.Message);
        Assert.Empty(_world.StepFunctions.Sent);
    }

    [Fact]
    public async Task A_submit_whose_answer_was_lost_keeps_the_record_open_and_sends_nothing()
    {
        _world.Batch.SubmitError = new AwsTransportException("AWSBatch", "SubmitJob", 1, new HttpRequestException("reset"));

        var answer = await _world.Submitter().SubmitAsync(Fixtures.Utf8(Payload));

        var record = _world.Store.Records.Values.Single();
        Assert.Equal((RecordStatus.Submitting, SubmitState.OutcomeUnknown), (record.Status, record.Submit));
        Assert.Null(answer.Error);
        Assert.Contains("unknown", answer.Note);
        Assert.Empty(_world.StepFunctions.Sent);
    }
}

[Collection(LogCapture.Collection)]
public class JobEventProcessorTests
{
    private const string Token = "token-for-events-0001";
    private static readonly string Key = TaskKey.For(Token);
    private static readonly string Marker = TaskKey.Marker(FakeWorld.Namespace, Key);
    private readonly FakeWorld _world = new();

    private void Open(string? jobId = "job-1", string? result = null) =>
        _world.Store.Records[Key] = new TaskRecord { TaskKey = Key, TaskToken = Token, Status = jobId is null ? RecordStatus.Submitting : RecordStatus.Submitted, JobId = jobId, Result = result };

    [Fact]
    public async Task Success_sends_the_native_JobDetail_from_DescribeJobs()
    {
        Open();
        var evt = FakeWorld.Event("job-1", "SUCCEEDED", Marker);
        var described = FakeWorld.Detail(FakeWorld.Event("job-1", "SUCCEEDED", Marker, ""","stoppedAt":99"""));
        _world.Batch.Jobs["job-1"] = described;

        var answer = await _world.Events().HandleAsync(evt);

        var sent = _world.StepFunctions.Sent.Single();
        Assert.Equal(("SendTaskSuccess", Token), (sent.Operation, sent.Token));
        Assert.Equal(
            """{"CreatedAt":1,"JobArn":"arn:aws:batch:us-east-1:123456789012:job/job-1","JobId":"job-1","JobName":"j","Parameters":{"InputFile":"a"},"Status":"SUCCEEDED","StatusReason":"because","StoppedAt":99}""",
            sent.Output);
        Assert.Equal(99, (int)JsonNode.Parse(sent.Output!)!["StoppedAt"]!);
        Assert.DoesNotContain(TaskKey.MarkerParameter, sent.Output);
        Assert.Equal(RecordStatus.Succeeded, _world.Store.Records[Key].Status);
        Assert.Equal("Succeeded", answer.Action);
    }

    [Fact]
    public async Task Failure_sends_States_TaskFailed_with_the_JobDetail_as_cause()
    {
        Open();
        var evt = FakeWorld.Event("job-1", "FAILED", Marker);

        await _world.Events().HandleAsync(evt);

        var sent = _world.StepFunctions.Sent.Single();
        Assert.Equal(("SendTaskFailure", "States.TaskFailed"), (sent.Operation, sent.Error));
        Assert.Equal(
            """{"CreatedAt":1,"JobArn":"arn:aws:batch:us-east-1:123456789012:job/job-1","JobId":"job-1","JobName":"j","Parameters":{"InputFile":"a"},"Status":"FAILED","StatusReason":"because"}""",
            sent.Cause);
        Assert.Equal(RecordStatus.Failed, _world.Store.Records[Key].Status);
    }

    [Fact]
    public async Task Duplicate_and_late_events_change_nothing()
    {
        Open();
        await _world.Events().HandleAsync(FakeWorld.Event("job-1", "SUCCEEDED", Marker));
        var afterFirst = _world.Store.Records[Key];

        var duplicate = await _world.Events().HandleAsync(FakeWorld.Event("job-1", "SUCCEEDED", Marker));
        var late = await _world.Events().HandleAsync(FakeWorld.Event("job-1", "RUNNING", Marker));
        var contrary = await _world.Events().HandleAsync(FakeWorld.Event("job-1", "FAILED", Marker));

        Assert.Single(_world.StepFunctions.Sent);
        Assert.All(new[] { duplicate, late, contrary }, a => Assert.Equal("Ignored", a.Action));
        Assert.Equal(afterFirst, _world.Store.Records[Key]);
    }

    [Fact]
    public async Task An_event_before_its_record_fails_the_invocation_so_it_is_retried()
    {
        var error = await Assert.ThrowsAsync<RecordNotFoundException>(() => _world.Events().HandleAsync(FakeWorld.Event("job-1", "SUCCEEDED", Marker)));
        Assert.Equal("BatchSync.RecordNotFound", error.ErrorName);
        Assert.Empty(_world.StepFunctions.Sent);
    }

    [Theory]
    [InlineData(TaskReply.TaskClosed)]
    [InlineData(TaskReply.InvalidToken)]
    public async Task A_closed_task_or_refused_token_is_recorded_not_failed(TaskReply answer)
    {
        Open();
        _world.StepFunctions.Answer = answer;

        var result = await _world.Events().HandleAsync(FakeWorld.Event("job-1", "SUCCEEDED", Marker));

        Assert.Equal("Closed", result.Action);
        Assert.Equal(RecordStatus.Closed, _world.Store.Records[Key].Status);
    }

    [Fact]
    public async Task Throttling_that_outlasts_the_retries_fails_the_invocation_and_leaves_the_record_open()
    {
        Open();
        _world.StepFunctions.Error = new AwsServiceException("AWSStepFunctions", "SendTaskSuccess", System.Net.HttpStatusCode.BadRequest, "ThrottlingException", "slow down", "r");

        await Assert.ThrowsAsync<AwsServiceException>(() => _world.Events().HandleAsync(FakeWorld.Event("job-1", "SUCCEEDED", Marker)));

        Assert.Equal(RecordStatus.Submitted, _world.Store.Records[Key].Status);
    }

    [Fact]
    public async Task Progress_events_attach_the_job_to_a_record_that_lacks_it()
    {
        Open(jobId: null);

        var answer = await _world.Events().HandleAsync(FakeWorld.Event("job-1", "RUNNABLE", Marker));

        Assert.Equal("Waiting", answer.Action);
        Assert.Equal(("job-1", RecordStatus.Submitted), (_world.Store.Records[Key].JobId, _world.Store.Records[Key].Status));
        Assert.Equal("SendTaskHeartbeat", _world.StepFunctions.Sent.Single().Operation);
    }

    [Fact]
    public async Task A_stored_result_is_added_to_the_success_output()
    {
        Open(result: """{"rows":42}""");

        await _world.Events().HandleAsync(FakeWorld.Event("job-1", "SUCCEEDED", Marker));

        Assert.Equal(42, (int)JsonNode.Parse(_world.StepFunctions.Sent.Single().Output!)!["Result"]!["rows"]!);
    }

    [Fact]
    public async Task Child_and_foreign_events_do_not_touch_the_store()
    {
        Open();
        await _world.Events().HandleAsync(FakeWorld.Event("job-1:3", "SUCCEEDED", Marker));
        await _world.Events().HandleAsync(FakeWorld.Event("job-1#0", "SUCCEEDED", Marker));
        await _world.Events().HandleAsync(FakeWorld.Event("job-9", "SUCCEEDED", "otherstack:xyz"));
        await _world.Events().HandleAsync(FakeWorld.Event("job-9", "SUCCEEDED", null));

        Assert.Empty(_world.Log.Calls);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("""{"detail-type":"Scheduled Event","source":"aws.events","detail":{}}""")]
    public async Task Malformed_events_are_named_errors(string payload)
    {
        var error = await Assert.ThrowsAsync<InvalidEventException>(() => _world.Events().HandleAsync(Fixtures.Utf8(payload)));
        Assert.Equal("BatchSync.InvalidEvent", error.ErrorName);
    }

    [Fact]
    public async Task Real_fixture_events_of_unmarked_jobs_are_ignored()
    {
        foreach (var fixture in Fixtures.BatchEvents())
        {
            var answer = await _world.Events().HandleAsync(Fixtures.Bytes(fixture));
            Assert.Equal("Ignored", answer.Action);
        }
        Assert.Empty(_world.Log.Calls);
    }
}

[Collection(LogCapture.Collection)]
public class CallbackProcessorTests
{
    private const string Token = "token-for-callbacks-0001";
    private static readonly string Key = TaskKey.For(Token);
    private readonly FakeWorld _world = new();

    public CallbackProcessorTests() =>
        _world.Store.Records[Key] = new TaskRecord { TaskKey = Key, TaskToken = Token, Status = RecordStatus.Submitted, JobId = "job-1" };

    private Task<Processing.CallbackResponse> Call(string json) => _world.Callbacks().HandleAsync(Fixtures.Utf8(json));

    [Fact]
    public async Task A_result_is_stored_and_reaches_the_success_output()
    {
        var answer = await Call("""{"JobId":"job-1","Result":{"uri":"s3://b/k","rows":[1,2]}}""");
        Assert.Equal(("ResultStored", true), (answer.Action, answer.Waiting));
        Assert.Equal("""{"uri":"s3://b/k","rows":[1,2]}""", _world.Store.Records[Key].Result);
    }

    [Fact]
    public async Task A_heartbeat_says_whether_the_task_still_waits()
    {
        var waiting = await Call("""{"JobId":"job-1","Heartbeat":true}""");
        Assert.True(waiting.Waiting);
        Assert.Equal("SendTaskHeartbeat", _world.StepFunctions.Sent.Single().Operation);

        _world.StepFunctions.Answer = TaskReply.TaskClosed;
        var gone = await Call("""{"JobId":"job-1","Heartbeat":true}""");
        Assert.False(gone.Waiting);
        Assert.Equal(RecordStatus.Closed, _world.Store.Records[Key].Status);
    }

    [Fact]
    public async Task An_error_fails_the_task_now()
    {
        var answer = await Call("""{"JobId":"job-1","Error":"Model.Diverged","Cause":"loss was NaN"}""");
        Assert.Equal(new SentAnswer("SendTaskFailure", Token, null, "Model.Diverged", "loss was NaN", Accepted: true), _world.StepFunctions.Sent.Single());
        Assert.Equal(("Failed", RecordStatus.Failed), (answer.Action, _world.Store.Records[Key].Status));
        await Assert.ThrowsAsync<TaskAlreadyFinishedException>(() => Call("""{"JobId":"job-1","Result":1}"""));
    }

    [Fact]
    public async Task Unknown_jobs_are_refused_and_nothing_changes()
    {
        var before = _world.Store.Records[Key];
        var error = await Assert.ThrowsAsync<JobNotFoundException>(() => Call("""{"JobId":"not-ours","Heartbeat":true}"""));
        Assert.Equal("BatchSync.JobNotFound", error.ErrorName);
        Assert.Empty(_world.StepFunctions.Sent);
        Assert.Equal(before, _world.Store.Records[Key]);
    }

    [Fact]
    public async Task A_job_missing_from_the_index_is_found_through_its_marker()
    {
        _world.Store.Records[Key] = _world.Store.Records[Key] with { JobId = null, Status = RecordStatus.Submitting };
        _world.Batch.Jobs["job-1"] = FakeWorld.Detail(FakeWorld.Event("job-1", "RUNNING", TaskKey.Marker(FakeWorld.Namespace, Key)));

        var answer = await Call("""{"JobId":"job-1","Heartbeat":true}""");

        Assert.True(answer.Waiting);
        _world.Batch.Jobs["job-2"] = FakeWorld.Detail(FakeWorld.Event("job-2", "RUNNING", TaskKey.Marker("otherstack", Key)));
        await Assert.ThrowsAsync<JobNotFoundException>(() => Call("""{"JobId":"job-2","Heartbeat":true}"""));
    }

    [Theory]
    [InlineData("""{"JobId":"job-1"}""", "give exactly one of Result, Heartbeat or Error")]
    [InlineData("""{"JobId":"job-1","Result":1,"Heartbeat":true}""", "give exactly one of Result, Heartbeat or Error")]
    [InlineData("""{"Heartbeat":true}""", "JobId: is required")]
    [InlineData("""{"JobId":5,"Heartbeat":true}""", "JobId: is required")]
    [InlineData("""{"JobId":"job-1","Heartbeat":false}""", "Heartbeat: must be true")]
    [InlineData("""{"JobId":"job-1","Error":""}""", "Error: must be a string of 1 to 256 characters")]
    [InlineData("""{"JobId":"job-1","Error":7}""", "Error: must be a string of 1 to 256 characters")]
    [InlineData("""{"JobId":"job-1","Cause":"x","Heartbeat":true}""", "Cause: goes with Error")]
    [InlineData("""{"JobId":"job-1","Heartbeat":true,"Extra":1}""", "Extra: unknown member")]
    [InlineData("""[1]""", "must be a JSON object")]
    [InlineData("""{"JobId":""", "not valid JSON")]
    public async Task Malformed_requests_are_named_and_change_nothing(string json, string expected)
    {
        var before = _world.Store.Records[Key];
        var error = await Assert.ThrowsAsync<InvalidInputException>(() => Call(json));
        Assert.Contains(expected, error.Message);
        Assert.Equal(before, _world.Store.Records[Key]);
        Assert.Empty(_world.Log.Calls);
    }

    [Fact]
    public async Task Overlong_error_and_result_are_refused_with_their_limits()
    {
        var longError = new string('e', 257);
        var error = await Assert.ThrowsAsync<InvalidInputException>(() => Call($$"""{"JobId":"job-1","Error":"{{longError}}"}"""));
        Assert.Contains("1 to 256 characters", error.Message);

        var big = new string('r', Domain.CallbackRequest.MaxResultBytes);
        var tooLarge = await Assert.ThrowsAsync<ResultTooLargeException>(() => Call($$"""{"JobId":"job-1","Result":"{{big}}"}"""));
        Assert.Contains("262144", tooLarge.Message);
        Assert.Null(_world.Store.Records[Key].Result);
    }
}
