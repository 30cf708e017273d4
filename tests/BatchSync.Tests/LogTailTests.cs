using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using BatchSync.Aws;
using BatchSync.Failures;
using BatchSync.Processing;
using BatchSync.Domain;

namespace BatchSync.Tests;

/// <summary>LogTail: the failed attempt's last lines in the cause, and every way a read can go wrong without costing the answer.</summary>
[Collection(LogCapture.Collection)]
public class LogTailTests
{
    private const string Token = "token-for-log-tails-0001";
    private static readonly string Key = TaskKey.For(Token);
    private readonly FakeWorld _world = new();

    /// <summary>A CloudWatch Logs stand-in: serves lines, fails, or never answers.</summary>
    private sealed class FakeLogs : ILogsApi
    {
        public List<(string Group, string Stream, int Limit)> Calls { get; } = [];
        public IReadOnlyList<string> Lines { get; set; } = [];
        public Exception? Error { get; set; }
        public bool Hang { get; set; }

        public async Task<IReadOnlyList<string>> GetLastLinesAsync(string logGroupName, string logStreamName, int limit, CancellationToken cancellationToken = default)
        {
            Calls.Add((logGroupName, logStreamName, limit));
            if (Hang)
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            if (Error is not null)
            {
                throw Error;
            }
            return Lines.TakeLast(limit).ToList();
        }
    }

    private async Task<SentAnswer> FailAsync(string options, FakeLogs logs, AnswerSettings? settings = null, JsonObject? job = null)
    {
        job ??= Fixtures.Node("failed-jobs/out-of-memory-adapted.json").AsObject();
        var jobId = (string)job["jobId"]!;
        job["parameters"] = new JsonObject { [Domain.TaskKey.MarkerParameter] = TaskKey.Marker(FakeWorld.Namespace, Key) };
        _world.Store.Records[Key] = new TaskRecord { TaskKey = Key, TaskToken = Token, Status = RecordStatus.Submitted, JobId = jobId, Options = options };
        _world.Batch.Jobs[jobId] = JsonDocument.Parse(job.ToJsonString()).RootElement.Clone();
        var answers = (settings ?? new AnswerSettings(AnswerSettings.NativeFailureError) { Region = "us-east-1" }) with { Logs = logs };
        var evt = $$"""{"detail-type":"Batch Job State Change","source":"aws.batch","detail":{{job.ToJsonString()}}}""";
        await new JobEventProcessor(_world.Batch, _world.StepFunctions, _world.Store, FakeWorld.Namespace, answers: answers).HandleAsync(Fixtures.Utf8(evt));
        Assert.Equal(RecordStatus.Failed, _world.Store.Records[Key].Status);
        return _world.StepFunctions.Sent.Single();
    }

    private static JsonNode Tail(SentAnswer sent) => JsonNode.Parse(sent.Cause!)!["BatchSyncLogTail"]!;

    [Fact]
    public async Task The_failed_attempts_last_lines_are_in_the_cause()
    {
        var logs = new FakeLogs { Lines = [.. Enumerable.Range(1, 30).Select(i => $"line {i}\n")] };

        var sent = await FailAsync("""{"LogTail":3,"TypedErrors":true}""", logs);

        Assert.Equal(("/aws/batch/job", "oom-job-definition/default/0e1f5a5200004000800000000001187", 3), logs.Calls.Single());
        Assert.Equal("""{"LogGroup":"/aws/batch/job","LogStreamName":"oom-job-definition/default/0e1f5a5200004000800000000001187","Lines":["line 28","line 29","line 30"]}""", Tail(sent).ToJsonString());
        Assert.Equal("BatchJob.OutOfMemory", sent.Error);
    }

    [Fact]
    public async Task A_tail_alone_keeps_the_native_error_name()
    {
        var sent = await FailAsync("""{"LogTail":1}""", new FakeLogs { Lines = ["x"] });
        Assert.Equal("States.TaskFailed", sent.Error);
        Assert.Null(JsonNode.Parse(sent.Cause!)!["BatchSyncFailure"]);
        Assert.Equal("x", (string)Tail(sent)["Lines"]![0]!);
    }

    [Fact]
    public void Lines_are_clipped_and_the_latest_kept_within_the_byte_cap()
    {
        var lines = Enumerable.Range(0, 100).Select(i => $"{i:D3}" + new string('x', 2_000)).ToList();
        var fitted = LogTail.Fit(lines).Select(n => (string)n!).ToList();
        Assert.All(fitted, l => Assert.Equal(LogTail.MaxLineChars, l.Length));
        Assert.True(fitted.Sum(l => System.Text.Encoding.UTF8.GetByteCount(l)) <= LogTail.MaxBytes);
        Assert.StartsWith("099", fitted[^1]);
        Assert.Equal(LogTail.MaxBytes / (LogTail.MaxLineChars + 2), fitted.Count); // "…" is 3 UTF-8 bytes
    }

    [Fact]
    public async Task A_failed_read_is_left_out_with_a_note_and_the_answer_still_goes()
    {
        var logs = new FakeLogs { Error = new AwsServiceException("AWSLogs", "GetLogEvents", HttpStatusCode.BadRequest, "ResourceNotFoundException", "The specified log stream does not exist.", "r-1") };
        var sent = await FailAsync("""{"LogTail":50,"TypedErrors":true}""", logs);
        Assert.Equal("GetLogEvents failed: ResourceNotFoundException", (string)Tail(sent)["Omitted"]!);
        Assert.Null(Tail(sent)["Lines"]);
        Assert.Equal("BatchJob.OutOfMemory", sent.Error);
    }

    [Fact]
    public async Task A_slow_read_is_abandoned_after_its_timeout()
    {
        var logs = new FakeLogs { Hang = true };
        var settings = new AnswerSettings(AnswerSettings.NativeFailureError) { Region = "us-east-1", LogTailTimeout = TimeSpan.FromMilliseconds(50) };
        var sent = await FailAsync("""{"LogTail":50}""", logs, settings);
        Assert.Equal("no answer from CloudWatch Logs within 50 ms", (string)Tail(sent)["Omitted"]!);
    }

    [Fact]
    public async Task A_log_group_the_stack_may_not_read_is_not_read()
    {
        var job = Fixtures.Node("failed-jobs/out-of-memory-adapted.json").AsObject();
        job["container"]!["logConfiguration"] = JsonNode.Parse("""{"logDriver":"awslogs","options":{"awslogs-group":"/team/private"}}""");
        var logs = new FakeLogs { Lines = ["secret"] };
        var sent = await FailAsync("""{"LogTail":5}""", logs, job: job);
        Assert.Empty(logs.Calls);
        Assert.Equal("log group /team/private is not one this stack may read (stack parameter LogTailLogGroups)", (string)Tail(sent)["Omitted"]!);
    }

    [Fact]
    public async Task A_configured_group_in_another_region_or_another_driver_is_not_read()
    {
        var job = Fixtures.Node("failed-jobs/out-of-memory-adapted.json").AsObject();
        job["container"]!["logConfiguration"] = JsonNode.Parse("""{"logDriver":"awslogs","options":{"awslogs-group":"/team/jobs","awslogs-region":"eu-west-1"}}""");
        var logs = new FakeLogs();
        var settings = new AnswerSettings(AnswerSettings.NativeFailureError) { Region = "us-east-1", LogGroups = ["/aws/batch/job", "/team/jobs"] };
        Assert.Equal("the log is in eu-west-1, this stack in us-east-1", (string)Tail(await FailAsync("""{"LogTail":5}""", logs, settings, job))["Omitted"]!);

        var splunk = Fixtures.Node("failed-jobs/out-of-memory-adapted.json").AsObject();
        splunk["container"]!["logConfiguration"] = JsonNode.Parse("""{"logDriver":"splunk"}""");
        // A second task answered with the same token: Step Functions would have closed it after the first answer.
        _world.StepFunctions.Sent.Clear();
        _world.StepFunctions.DeadTokens.Clear();
        Assert.Equal("the container does not log to CloudWatch Logs (awslogs)", (string)Tail(await FailAsync("""{"LogTail":5}""", logs, settings, splunk))["Omitted"]!);
        Assert.Empty(logs.Calls);
    }

    [Fact]
    public async Task A_group_under_a_configured_prefix_is_read()
    {
        var job = Fixtures.Node("failed-jobs/out-of-memory-adapted.json").AsObject();
        job["container"]!["logConfiguration"] = JsonNode.Parse("""{"logDriver":"awslogs","options":{"awslogs-group":"/team/jobs/render"}}""");
        var logs = new FakeLogs { Lines = ["done?"] };
        var settings = new AnswerSettings(AnswerSettings.NativeFailureError) { Region = "us-east-1", LogGroups = ["/aws/batch/job", "/team/jobs/*"] };
        var sent = await FailAsync("""{"LogTail":5}""", logs, settings, job);
        Assert.Equal("/team/jobs/render", logs.Calls.Single().Group);
        Assert.Equal("done?", (string)Tail(sent)["Lines"]![0]!);
    }

    [Fact]
    public async Task A_failure_without_a_log_stream_says_so()
    {
        var sent = await FailAsync("""{"LogTail":5}""", new FakeLogs(), job: Fixtures.Node("failed-jobs/host-terminated-adapted.json").AsObject());
        Assert.Equal("""{"Omitted":"the failed attempt has no log stream"}""", Tail(sent).ToJsonString());
    }

    [Fact]
    public async Task Success_never_reads_logs()
    {
        var logs = new FakeLogs();
        var job = Fixtures.Node("failed-jobs/out-of-memory-adapted.json").AsObject();
        job["status"] = "SUCCEEDED";
        job["parameters"] = new JsonObject { [Domain.TaskKey.MarkerParameter] = TaskKey.Marker(FakeWorld.Namespace, Key) };
        _world.Store.Records[Key] = new TaskRecord { TaskKey = Key, TaskToken = Token, Status = RecordStatus.Submitted, JobId = (string)job["jobId"]!, Options = """{"LogTail":5}""" };
        _world.Batch.Jobs[(string)job["jobId"]!] = JsonDocument.Parse(job.ToJsonString()).RootElement.Clone();
        await new JobEventProcessor(_world.Batch, _world.StepFunctions, _world.Store, FakeWorld.Namespace, answers: AnswerSettings.Native with { Logs = logs })
            .HandleAsync(Fixtures.Utf8($$"""{"detail-type":"Batch Job State Change","source":"aws.batch","detail":{{job.ToJsonString()}}}"""));
        Assert.Empty(logs.Calls);
        Assert.Equal(TaskResponder.NativeOutput(_world.Batch.Jobs[(string)job["jobId"]!], null), _world.StepFunctions.Sent.Single().Output);
    }

    [Theory]
    [InlineData("""{"LogTail":0}""", "BatchSync.LogTail: must be a whole number of lines from 1 to 100, not 0")]
    [InlineData("""{"LogTail":101}""", "BatchSync.LogTail: must be a whole number of lines from 1 to 100, not 101")]
    [InlineData("""{"LogTail":2.5}""", "BatchSync.LogTail: must be a whole number of lines from 1 to 100, not 2.5")]
    [InlineData("""{"LogTail":"50"}""", "BatchSync.LogTail: must be a whole number of lines from 1 to 100, not a string")]
    [InlineData("""{"LogTails":5}""", "BatchSync.LogTails: unknown member (did you mean LogTail?)")]
    public async Task Bad_tail_options_are_refused_by_name(string options, string message)
    {
        await _world.Submitter().SubmitAsync(Fixtures.Utf8($$"""{"JobName":"j","JobQueue":"q","JobDefinition":"d","TaskToken":"{{Token}}","BatchSync":{{options}}}"""));
        Assert.Contains(message, _world.StepFunctions.Sent.Single().Cause);
        Assert.Empty(_world.Batch.Submitted);
    }

    [Fact]
    public void The_stacks_log_groups_and_timeout_come_from_the_environment()
    {
        var env = new Dictionary<string, string>
        {
            ["BATCHSYNC_LOG_TAIL_GROUPS"] = "/aws/batch/job, /team/jobs", ["BATCHSYNC_LOG_TAIL_TIMEOUT_MS"] = "750", ["AWS_REGION"] = "eu-west-1",
        };
        var settings = AnswerSettings.From(n => env.GetValueOrDefault(n));
        Assert.Equal(["/aws/batch/job", "/team/jobs"], settings.LogGroups);
        Assert.Equal(TimeSpan.FromMilliseconds(750), settings.LogTailTimeout);
        Assert.Equal("eu-west-1", settings.Region);
        Assert.Equal(["/aws/batch/job"], AnswerSettings.From(_ => null).LogGroups);
    }
}
