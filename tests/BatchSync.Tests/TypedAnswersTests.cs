using System.Text.Json;
using System.Text.Json.Nodes;
using BatchSync.Failures;
using BatchSync.Mapping;
using BatchSync.Processing;
using BatchSync.Domain;

namespace BatchSync.Tests;

/// <summary>
/// The opt-ins of the payload member BatchSync, end to end through the fakes: read and kept on the record, never sent to
/// Batch; typed failure names and links in the answers; and, without them, the native answers byte for byte.
/// </summary>
[Collection(LogCapture.Collection)]
public class TypedAnswersTests
{
    private const string Token = "token-for-typed-answers-1";
    private const string ExecutionArn = "arn:aws:states:us-east-1:123456789012:execution:flow:run-7";
    private static readonly string Key = TaskKey.For(Token);
    private static readonly string Marker = TaskKey.Marker(FakeWorld.Namespace, Key);
    private readonly FakeWorld _world = new();

    private JobEventProcessor Events(AnswerSettings? answers = null) => new(_world.Batch, _world.StepFunctions, _world.Store, FakeWorld.Namespace, answers: answers);

    private static JsonElement Wire(string json) => JsonDocument.Parse(json).RootElement.Clone();

    /// <summary>Opens a record for <paramref name="job"/> (wire JobDetail) and delivers its terminal event.</summary>
    private async Task<SentAnswer> DeliverAsync(JsonElement job, string? options, string? executionArn = ExecutionArn, AnswerSettings? answers = null, string? result = null)
    {
        var jobId = job.GetProperty("jobId").GetString()!;
        var status = job.GetProperty("status").GetString()!;
        _world.Store.Records[Key] = new TaskRecord
        {
            TaskKey = Key, TaskToken = Token, Status = RecordStatus.Submitted, JobId = jobId, Options = options,
            ExecutionArn = executionArn, Result = result,
        };
        var marked = JsonNode.Parse(job.GetRawText())!.AsObject();
        var parameters = marked["parameters"] as JsonObject ?? [];
        parameters[TaskKey.MarkerParameter] = Marker;
        marked["parameters"] = parameters.DeepClone();
        _world.Batch.Jobs[jobId] = Wire(marked.ToJsonString());
        var evt = $$"""{"detail-type":"Batch Job State Change","source":"aws.batch","detail":{{marked.ToJsonString()}}}""";
        await Events(answers).HandleAsync(Fixtures.Utf8(evt));
        return _world.StepFunctions.Sent.Single();
    }

    private static JsonElement OutOfMemoryJob() => Fixtures.Element("failed-jobs/out-of-memory-adapted.json");

    [Fact]
    public async Task The_options_are_kept_on_the_record_and_never_sent_to_Batch()
    {
        await _world.Submitter().SubmitAsync(Fixtures.Utf8($$$"""
            {"JobName":"j","JobQueue":"q","JobDefinition":"d","TaskToken":"{{{Token}}}",
             "BatchSync":{"TypedErrors":true,"ExitCodes":{"3":"Model.Diverged","12":"Data.Missing"},"Links":true}}
            """));

        Assert.Equal("""{"ExitCodes":{"3":"Model.Diverged","12":"Data.Missing"},"Links":true,"TypedErrors":true}""", _world.Store.Records[Key].Options);
        var sent = _world.Batch.Submitted.Single().ToJsonString();
        Assert.DoesNotContain("BatchSync\"", sent);
        Assert.DoesNotContain("TypedErrors", sent);
    }

    [Fact]
    public async Task Without_the_member_the_record_has_no_options()
    {
        await _world.Submitter().SubmitAsync(Fixtures.Utf8($$"""{"JobName":"j","JobQueue":"q","JobDefinition":"d","TaskToken":"{{Token}}"}"""));
        Assert.Null(_world.Store.Records[Key].Options);
    }

    [Theory]
    [InlineData("""{"TypedError":true}""", "BatchSync.TypedError: unknown member (did you mean TypedErrors?)")]
    [InlineData("""{"Link":true}""", "BatchSync.Link: unknown member (did you mean Links?)")]
    [InlineData("""{"ToleratedFailures":1}""", "BatchSync.ToleratedFailures: unknown member (expected one of: ArraySummary, ExitCodes, Links, LogTail, ToleratedFailureCount, ToleratedFailurePercentage, TypedErrors)")]
    [InlineData("""{"ArraySummary":"yes"}""", "BatchSync.ArraySummary: must be true or false, not a string")]
    [InlineData("""{"ArraySumary":true}""", "BatchSync.ArraySumary: unknown member (did you mean ArraySummary?)")]
    [InlineData("""true""", "BatchSync: must be an object such as {\"TypedErrors\": true, \"Links\": true}, not a boolean")]
    [InlineData("""{"TypedErrors":"yes"}""", "BatchSync.TypedErrors: must be true or false, not a string")]
    [InlineData("""{"TypedErrors":true,"ExitCodes":[3]}""", "BatchSync.ExitCodes: must be an object of exit code/error name pairs such as {\"3\": \"Model.Diverged\"}, not an array")]
    [InlineData("""{"TypedErrors":true,"ExitCodes":{"03":"X"}}""", "BatchSync.ExitCodes.03: must be an exit code from 1 to 255, written plainly (\"3\", not \"03\" or \"three\")")]
    [InlineData("""{"TypedErrors":true,"ExitCodes":{"256":"X"}}""", "BatchSync.ExitCodes.256: must be an exit code from 1 to 255, written plainly (\"3\", not \"03\" or \"three\")")]
    [InlineData("""{"TypedErrors":true,"ExitCodes":{"3":"States.Custom"}}""", "BatchSync.ExitCodes.3: must not begin with \"States.\" (Step Functions reserves those names)")]
    [InlineData("""{"TypedErrors":true,"ExitCodes":{"3":""}}""", "BatchSync.ExitCodes.3: must be 1 to 256 characters (is 0)")]
    [InlineData("""{"TypedErrors":true,"ExitCodes":{"3":7}}""", "BatchSync.ExitCodes.3: must be an error name (a string), not a number")]
    [InlineData("""{"ExitCodes":{"3":"Model.Diverged"}}""", "BatchSync.ExitCodes: names errors only with \"TypedErrors\": true")]
    [InlineData("""{"Links":true,"Links":false}""", "BatchSync.Links: is given more than once")]
    public async Task Bad_options_fail_the_task_by_name_and_submit_nothing(string options, string message)
    {
        var answer = await _world.Submitter().SubmitAsync(Fixtures.Utf8($$"""{"JobName":"j","JobQueue":"q","JobDefinition":"d","TaskToken":"{{Token}}","BatchSync":{{options}}}"""));

        Assert.Empty(_world.Batch.Submitted);
        var sent = _world.StepFunctions.Sent.Single();
        Assert.Equal("BatchSync.InvalidInput", sent.Error);
        Assert.Contains(message, sent.Cause);
        Assert.Equal("BatchSync.InvalidInput", answer.Error);
    }

    [Fact]
    public async Task The_member_given_twice_is_refused()
    {
        await _world.Submitter().SubmitAsync(Fixtures.Utf8($$$"""{"JobName":"j","JobQueue":"q","JobDefinition":"d","TaskToken":"{{{Token}}}","BatchSync":{"Links":true},"BatchSync":{"Links":true}}"""));
        Assert.Contains("BatchSync: is given more than once", _world.StepFunctions.Sent.Single().Cause);
        Assert.Empty(_world.Batch.Submitted);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("{}")]
    [InlineData("""{"Links":false,"TypedErrors":false}""")]
    [InlineData("{not json")]
    public async Task Without_an_opt_in_a_real_failure_is_answered_natively_byte_for_byte(string? options)
    {
        var fixture = Fixtures.Node("native-sync/failed-error-cause.json");
        var cause = (string)fixture["Cause"]!;
        var job = Wire(NativeOutputMapperTests.WireFromNative(JsonNode.Parse(cause), "JobDetail")!.ToJsonString());

        var sent = await DeliverAsync(job, options);

        Assert.Equal(((string)fixture["Error"]!, cause), (sent.Error, sent.Cause));
    }

    [Fact]
    public async Task Typed_errors_name_the_failure_and_add_one_summary_member_to_the_native_cause()
    {
        var job = OutOfMemoryJob();

        var sent = await DeliverAsync(job, """{"TypedErrors":true}""");

        Assert.Equal("BatchJob.OutOfMemory", sent.Error);
        var cause = JsonNode.Parse(sent.Cause!)!.AsObject();
        Assert.Equal("""{"Attempt":1,"ExitCode":137,"Kind":"BatchJob.OutOfMemory","LogStreamName":"oom-job-definition/default/0e1f5a5200004000800000000001187","Reason":"OutOfMemoryError: Container killed due to memory usage"}""",
            cause["BatchSyncFailure"]!.ToJsonString());
        cause.Remove("BatchSyncFailure");
        Assert.Equal(TaskResponder.NativeCause(_world.Batch.Jobs[job.GetProperty("jobId").GetString()!]), cause.ToJsonString());
        var names = JsonNode.Parse(sent.Cause!)!.AsObject().Select(p => p.Key).ToList();
        Assert.Equal(names.Order(StringComparer.Ordinal), names);
    }

    [Fact]
    public async Task The_tasks_exit_code_name_is_the_error()
    {
        var job = Fixtures.Node("failed-jobs/out-of-memory-adapted.json").AsObject();
        job["attempts"]![0]!["container"] = JsonNode.Parse("""{"exitCode":3,"logStreamName":"d/default/x"}""");
        job.Remove("container");

        var sent = await DeliverAsync(Wire(job.ToJsonString()), """{"ExitCodes":{"3":"Model.Diverged"},"TypedErrors":true}""");

        Assert.Equal("Model.Diverged", sent.Error);
        Assert.Equal("Model.Diverged", (string)JsonNode.Parse(sent.Cause!)!["BatchSyncFailure"]!["Kind"]!);
    }

    [Fact]
    public async Task The_stack_can_name_native_failures_otherwise()
    {
        var sent = await DeliverAsync(OutOfMemoryJob(), null, answers: new AnswerSettings("BatchSync.JobFailed"));
        Assert.Equal("BatchSync.JobFailed", sent.Error);
        Assert.Equal(TaskResponder.NativeCause(_world.Batch.Jobs.Values.Single()), sent.Cause);
    }

    [Fact]
    public void The_stacks_failure_name_comes_from_the_environment()
    {
        Assert.Equal("States.TaskFailed", AnswerSettings.From(_ => null).FailureError);
        Assert.Equal("States.TaskFailed", AnswerSettings.From(_ => "  ").FailureError);
        Assert.Equal("BatchSync.JobFailed", AnswerSettings.From(n => n == "BATCHSYNC_FAILURE_ERROR" ? " BatchSync.JobFailed " : null).FailureError);
        Assert.Throws<InvalidOperationException>(() => AnswerSettings.From(_ => new string('x', 257)));
    }

    [Fact]
    public async Task Links_name_the_job_the_execution_and_each_attempts_log_stream_in_output_and_cause()
    {
        var job = Wire("""
            {"jobArn":"arn:aws:batch:eu-west-1:123456789012:job/abc-1","jobId":"abc-1","jobName":"j","status":"SUCCEEDED",
             "attempts":[{"container":{"exitCode":1,"logStreamName":"def/default/first"}},{"container":{"exitCode":0,"logStreamName":"def/default/second"}}],
             "container":{"logStreamName":"def/default/second","logConfiguration":{"logDriver":"awslogs","options":{"awslogs-group":"/team/jobs","awslogs-region":"eu-central-1"}}}}
            """);

        var sent = await DeliverAsync(job, """{"Links":true}""", result: """{"rows":3}""");

        var output = JsonNode.Parse(sent.Output!)!.AsObject();
        Assert.Equal(
            "{\"Execution\":\"https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/arn:aws:states:us-east-1:123456789012:execution:flow:run-7\"," +
            "\"Job\":\"https://eu-west-1.console.aws.amazon.com/batch/home?region=eu-west-1#jobs/detail/abc-1\"," +
            "\"Logs\":[" +
            "{\"Attempt\":1,\"LogGroup\":\"/team/jobs\",\"LogStreamName\":\"def/default/first\",\"Region\":\"eu-central-1\",\"Url\":\"https://eu-central-1.console.aws.amazon.com/cloudwatch/home?region=eu-central-1#logsV2:log-groups/log-group/$252Fteam$252Fjobs/log-events/def$252Fdefault$252Ffirst\"}," +
            "{\"Attempt\":2,\"LogGroup\":\"/team/jobs\",\"LogStreamName\":\"def/default/second\",\"Region\":\"eu-central-1\",\"Url\":\"https://eu-central-1.console.aws.amazon.com/cloudwatch/home?region=eu-central-1#logsV2:log-groups/log-group/$252Fteam$252Fjobs/log-events/def$252Fdefault$252Fsecond\"}]}",
            output["BatchSyncLinks"]!.ToJsonString());
        output.Remove("BatchSyncLinks");
        Assert.Equal(TaskResponder.NativeOutput(_world.Batch.Jobs["abc-1"], """{"rows":3}"""), output.ToJsonString());
    }

    [Fact]
    public async Task A_failure_with_links_and_typed_errors_carries_both_members()
    {
        var sent = await DeliverAsync(OutOfMemoryJob(), """{"Links":true,"TypedErrors":true}""", executionArn: null);

        var cause = JsonNode.Parse(sent.Cause!)!.AsObject();
        Assert.Equal("BatchJob.OutOfMemory", (string)cause["BatchSyncFailure"]!["Kind"]!);
        Assert.Equal("https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logsV2:log-groups/log-group/$252Faws$252Fbatch$252Fjob/log-events/oom-job-definition$252Fdefault$252F0e1f5a5200004000800000000001187",
            (string)cause["BatchSyncLinks"]!["Logs"]![0]!["Url"]!);
        Assert.Null(cause["BatchSyncLinks"]!["Execution"]);
    }

    [Fact]
    public async Task Links_alone_keep_the_native_error_name()
    {
        var sent = await DeliverAsync(OutOfMemoryJob(), """{"Links":true}""");
        Assert.Equal("States.TaskFailed", sent.Error);
        Assert.Null(JsonNode.Parse(sent.Cause!)!["BatchSyncFailure"]);
        Assert.NotNull(JsonNode.Parse(sent.Cause!)!["BatchSyncLinks"]);
    }

    [Theory]
    [InlineData("arn:aws-cn:batch:cn-north-1:123456789012:job/j1", "https://cn-north-1.console.amazonaws.cn/batch/home?region=cn-north-1#jobs/detail/j1")]
    [InlineData("arn:aws-us-gov:batch:us-gov-west-1:123456789012:job/j1", "https://console.amazonaws-us-gov.com/batch/home?region=us-gov-west-1#jobs/detail/j1")]
    [InlineData("arn:aws-iso:batch:us-iso-east-1:123456789012:job/j1", null)]
    [InlineData("not-an-arn", null)]
    public void Job_links_follow_the_partition(string jobArn, string? expected)
    {
        var links = ConsoleLinks.For(Wire($$"""{"jobArn":"{{jobArn}}","jobId":"j1"}"""), null);
        Assert.Equal(expected, (string?)links?["Job"]);
    }

    [Fact]
    public void ECS_properties_containers_get_a_link_each_with_their_own_log_options()
    {
        var links = ConsoleLinks.For(Wire("""
            {"jobArn":"arn:aws:batch:us-east-1:1:job/j1","jobId":"j1",
             "ecsProperties":{"taskProperties":[{"containers":[
               {"name":"app","logConfiguration":{"logDriver":"awslogs","options":{"awslogs-group":"app-logs"}}},
               {"name":"splunk","logConfiguration":{"logDriver":"splunk"}}]}]},
             "attempts":[{"taskProperties":[{"containers":[
               {"name":"app","logStreamName":"app/s1"},{"name":"splunk","logStreamName":"ignored/s2"}]}]}]}
            """), null)!;
        var log = links["Logs"]!.AsArray().Single()!;
        Assert.Equal(("app", "app-logs", "app/s1"), ((string)log["Container"]!, (string)log["LogGroup"]!, (string)log["LogStreamName"]!));
    }

    [Fact]
    public async Task An_oversized_cause_is_shrunk_and_keeps_the_classification()
    {
        var job = Fixtures.Node("failed-jobs/out-of-memory-adapted.json").AsObject();
        job["container"]!["environment"] = new JsonArray(Enumerable.Range(0, 400).Select(i => (JsonNode?)new JsonObject { ["name"] = $"V{i}", ["value"] = new string('x', 100) }).ToArray());

        var sent = await DeliverAsync(Wire(job.ToJsonString()), """{"Links":true,"TypedErrors":true}""");

        Assert.True(sent.Cause!.Length <= StepFunctionsLimits.CauseChars);
        var cause = JsonNode.Parse(sent.Cause)!;
        Assert.Equal("BatchJob.OutOfMemory", (string)cause["BatchSyncFailure"]!["Kind"]!);
        Assert.NotNull(cause["BatchSyncLinks"]);
        Assert.Contains("Container", cause[OutputBudget.OmittedMember]!.AsArray().Select(n => (string)n!));
    }

    [Fact]
    public void An_oversized_cause_keeps_every_added_member_whole_and_the_rest_native()
    {
        var job = Fixtures.Node("failed-jobs/out-of-memory-adapted.json").AsObject();
        job["container"]!["environment"] = new JsonArray(Enumerable.Range(0, 400).Select(i => (JsonNode?)new JsonObject { ["name"] = $"V{i}", ["value"] = new string('x', 100) }).ToArray());
        var wire = Wire(job.ToJsonString());
        var tail = new JsonObject { ["LogGroup"] = "/aws/batch/job", ["LogStreamName"] = "s", ["Lines"] = new JsonArray([.. Enumerable.Range(0, 80).Select(i => (JsonNode?)$"line {i} ✓ {new string('l', 90)}")]) };
        var summary = new JsonObject { ["FailedCount"] = 1, ["Size"] = 2 };

        var (error, cause) = TaskAnswers.Failure(wire, new TaskOptions(TypedErrors: true, Links: true, new Dictionary<int, string>(), LogTail: 80), ExecutionArn, AnswerSettings.Native, tail, summary);

        Assert.Equal("BatchJob.OutOfMemory", error);
        Assert.True(cause.Length <= StepFunctionsLimits.CauseChars);
        var answer = JsonNode.Parse(cause)!.AsObject();
        Assert.Equal(JsonText.ToText(tail), JsonText.ToText(answer["BatchSyncLogTail"]!));
        Assert.Equal(JsonText.ToText(summary), JsonText.ToText(answer["BatchSyncArraySummary"]!));
        Assert.Equal("BatchJob.OutOfMemory", (string)answer["BatchSyncFailure"]!["Kind"]!);
        Assert.NotNull(answer["BatchSyncLinks"]);
        Assert.Equal(["Container"], answer[OutputBudget.OmittedMember]!.AsArray().Select(n => (string)n!));
        var native = JsonNode.Parse(TaskResponder.NativeOutput(wire, null))!.AsObject();
        foreach (var (name, value) in answer.Where(p => !p.Key.StartsWith("BatchSync", StringComparison.Ordinal)))
        {
            Assert.Equal(native[name]!.ToJsonString(), value!.ToJsonString());
        }
        Assert.Equal(native.Select(p => p.Key).Where(n => n != "Container"), answer.Select(p => p.Key).Where(n => !n.StartsWith("BatchSync", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task The_sweep_delivers_a_lost_failure_with_the_same_typed_name_and_the_stacks_name_otherwise()
    {
        var job = Fixtures.Node("failed-jobs/out-of-memory-adapted.json").AsObject();
        var typedKey = TaskKey.For("typed-token");
        var plainKey = TaskKey.For("plain-token");
        foreach (var (key, token, jobId, options) in new[] { (typedKey, "typed-token", "job-typed", """{"TypedErrors":true}"""), (plainKey, "plain-token", "job-plain", (string?)null) })
        {
            _world.Store.Records[key] = new TaskRecord { TaskKey = key, TaskToken = token, Status = RecordStatus.Submitted, JobId = jobId, Options = options, CreatedAt = 1 };
            job["jobId"] = jobId;
            job["parameters"] = new JsonObject { [TaskKey.MarkerParameter] = TaskKey.Marker(FakeWorld.Namespace, key) };
            _world.Batch.Jobs[jobId] = Wire(job.ToJsonString());
        }
        var sweep = new Reconciler(_world.Batch, _world.StepFunctions, _world.Store, FakeWorld.Namespace, TimeProvider.System, answers: new AnswerSettings("BatchSync.JobFailed"));

        var answer = await sweep.HandleAsync(Fixtures.Utf8("""{"version":"0","id":"s","detail-type":"Scheduled Event","source":"aws.events","detail":{}}"""));

        Assert.Equal(2, answer.Delivered);
        Assert.Equal("BatchJob.OutOfMemory", _world.StepFunctions.Sent.Single(x => x.Token == "typed-token").Error);
        Assert.Equal("BatchSync.JobFailed", _world.StepFunctions.Sent.Single(x => x.Token == "plain-token").Error);
    }
}
