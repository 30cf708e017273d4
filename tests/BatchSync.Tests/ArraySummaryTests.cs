using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using BatchSync.Aws;
using BatchSync.Failures;
using BatchSync.Processing;
using BatchSync.Domain;

namespace BatchSync.Tests;

/// <summary>ArraySummary: an array parent's answer with its children's counts, failed indices and first failures, in a few calls.</summary>
[Collection(LogCapture.Collection)]
public class ArraySummaryTests
{
    private const string Token = "token-for-array-summaries-1";
    private const string ParentId = "4c7e0f9a-parent";
    private static readonly string Key = TaskKey.For(Token);
    private readonly FakeStepFunctions _tasks = new(new CallLog());
    private readonly InMemoryRecordStore _store = new(new CallLog());

    /// <summary>Batch with array children: ListJobs by arrayJobId and jobStatus, paginated, and DescribeJobs.</summary>
    private sealed class ArrayBatch : IBatchApi
    {
        public Task<SubmittedJob> SubmitServiceJobAsync(byte[] requestBody, CancellationToken cancellationToken = default) => throw new NotSupportedException("no service jobs here");
        public Task<BatchJob?> DescribeServiceJobAsync(string jobId, CancellationToken cancellationToken = default) => throw new NotSupportedException("no service jobs here");
        public Task TerminateServiceJobAsync(string jobId, string reason, CancellationToken cancellationToken = default) => throw new NotSupportedException("no service jobs here");
        public Task<JobPage> ListServiceJobsNamedAsync(string jobQueue, string jobName, string? nextToken, CancellationToken cancellationToken = default) => throw new NotSupportedException("no service jobs here");
        public Dictionary<string, JsonElement> Jobs { get; } = [];
        public List<JsonObject> ListRequests { get; } = [];
        public List<IReadOnlyList<string>> Described { get; } = [];
        public Exception? ListError { get; set; }

        public Task<SubmittedJob> SubmitJobAsync(byte[] requestBody, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<IReadOnlyList<BatchJob>> DescribeJobsAsync(IReadOnlyList<string> jobIds, CancellationToken cancellationToken = default)
        {
            Described.Add(jobIds);
            return Task.FromResult<IReadOnlyList<BatchJob>>([.. jobIds.Where(Jobs.ContainsKey).Select(id => BatchJob.Of(Jobs[id]))]);
        }

        public Task<JobPage> ListJobsNamedAsync(string jobQueue, string jobName, string? nextToken, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        /// <summary>The request as Batch would take it, kept for the tests, then answered.</summary>
        public async Task<JobPage> ListFailedChildrenAsync(string arrayJobId, int pageSize, string? nextToken, CancellationToken cancellationToken = default)
        {
            var request = new JsonObject { ["arrayJobId"] = arrayJobId, ["jobStatus"] = "FAILED", ["maxResults"] = pageSize };
            if (nextToken is not null)
            {
                request["nextToken"] = nextToken;
            }
            var (jobs, next) = await ListJobsAsync(request, cancellationToken);
            return new JobPage(jobs, next);
        }

        public Task TerminateJobAsync(string jobId, string reason, CancellationToken cancellationToken = default) => Task.CompletedTask;

        public Task<(IReadOnlyList<JobSummary> Jobs, string? NextToken)> ListJobsAsync(JsonObject request, CancellationToken cancellationToken = default)
        {
            ListRequests.Add((JsonObject)request.DeepClone());
            if (ListError is not null)
            {
                throw ListError;
            }
            var parent = (string)request["arrayJobId"]!;
            var status = (string?)request["jobStatus"];
            var size = (int)request["maxResults"]!;
            var start = request["nextToken"] is { } t ? int.Parse((string)t!) : 0;
            var matching = Jobs.Values.Where(j => j.GetProperty("jobId").GetString()!.StartsWith(parent + ":", StringComparison.Ordinal)
                    && (status is null || j.GetProperty("status").GetString() == status))
                .OrderBy(j => j.GetProperty("jobId").GetString(), StringComparer.Ordinal).ToList();
            var page = matching.Skip(start).Take(size).Select(j => new JobSummary(j.GetProperty("jobId").GetString()!, "child", j.GetProperty("status").GetString(), null,
                j.GetProperty("arrayProperties").GetProperty("index").GetInt32())).ToList();
            var next = start + size < matching.Count ? (start + size).ToString() : null;
            return Task.FromResult<(IReadOnlyList<JobSummary>, string?)>((page, next));
        }
    }

    private static JsonElement Wire(JsonNode node) => JsonDocument.Parse(node.ToJsonString()).RootElement.Clone();

    private static JsonObject Parent(string status, int size, JsonObject counts) => new()
    {
        ["jobArn"] = $"arn:aws:batch:us-east-1:123456789012:job/{ParentId}", ["jobId"] = ParentId, ["jobName"] = "frames", ["status"] = status,
        ["arrayProperties"] = new JsonObject { ["size"] = size, ["statusSummary"] = counts },
        ["parameters"] = new JsonObject { [TaskKey.MarkerParameter] = TaskKey.Marker(FakeWorld.Namespace, Key) },
    };

    /// <summary>A child; failed ones take their attempt from a published failure (Fixtures/failed-jobs).</summary>
    private static void AddChild(ArrayBatch batch, int index, string? failure)
    {
        var child = failure is null
            ? new JsonObject { ["status"] = "SUCCEEDED" }
            : Fixtures.Node($"failed-jobs/{failure}").AsObject();
        child["jobId"] = $"{ParentId}:{index}";
        child["jobArn"] = $"arn:aws:batch:us-east-1:123456789012:job/{ParentId}:{index}";
        child["arrayProperties"] = new JsonObject { ["index"] = index };
        batch.Jobs[$"{ParentId}:{index}"] = Wire(child);
    }

    private JobStateChangeResponse? LastAnswer { get; set; }

    private async Task<SentAnswer> DeliverAsync(ArrayBatch batch, JsonObject parent, string options)
    {
        batch.Jobs[ParentId] = Wire(parent);
        _store.Records[Key] = new TaskRecord { TaskKey = Key, TaskToken = Token, Status = RecordStatus.Submitted, JobId = ParentId, Options = options };
        var evt = $$"""{"detail-type":"Batch Job State Change","source":"aws.batch","detail":{{parent.ToJsonString()}}}""";
        LastAnswer = await new JobEventProcessor(batch, _tasks, _store, FakeWorld.Namespace).HandleAsync(Fixtures.Utf8(evt));
        return _tasks.Sent.Single();
    }

    [Fact]
    public async Task A_failed_parent_names_its_failed_children_in_two_calls()
    {
        var batch = new ArrayBatch();
        AddChild(batch, 0, null);
        AddChild(batch, 1, "out-of-memory-adapted.json");
        AddChild(batch, 2, null);
        AddChild(batch, 3, "host-terminated-adapted.json");
        AddChild(batch, 4, "attempt-timeout-adapted.json");
        var parent = Parent("FAILED", 5, new JsonObject { ["FAILED"] = 3, ["SUCCEEDED"] = 2 });

        var sent = await DeliverAsync(batch, parent, """{"ArraySummary":true,"TypedErrors":true}""");

        var summary = JsonNode.Parse(sent.Cause!)!["BatchSyncArraySummary"]!;
        Assert.Equal(5, (int)summary["Size"]!);
        Assert.Equal("""{"FAILED":3,"SUCCEEDED":2}""", summary["StatusSummary"]!.ToJsonString());
        Assert.Equal(3, (int)summary["FailedCount"]!);
        Assert.Equal("[1,3,4]", summary["FailedIndices"]!.ToJsonString());
        Assert.Null(summary["FailedIndicesTruncated"]);
        var children = summary["FailedChildren"]!.AsArray();
        Assert.Equal(["BatchJob.OutOfMemory", "BatchJob.HostTerminated", "BatchJob.AttemptTimeout"], children.Select(c => (string)c!["Kind"]!));
        Assert.Equal([1, 3, 4], children.Select(c => (int)c!["Index"]!));
        Assert.Equal(137, (int)children[0]!["ExitCode"]!);
        Assert.Equal("https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logsV2:log-groups/log-group/$252Faws$252Fbatch$252Fjob/log-events/oom-job-definition$252Fdefault$252F0e1f5a5200004000800000000001187",
            (string)children[0]!["LogUrl"]!);
        // One ListJobs (FAILED children of this parent) and one DescribeJobs for the first failures, beside the parent's own.
        var list = Assert.Single(batch.ListRequests);
        Assert.Equal(ParentId, (string)list["arrayJobId"]!);
        Assert.Equal("FAILED", (string)list["jobStatus"]!);
        Assert.Equal([[ParentId], [$"{ParentId}:1", $"{ParentId}:3", $"{ParentId}:4"]], batch.Described);
    }

    [Fact]
    public async Task A_succeeded_parent_gets_its_summary_in_the_output()
    {
        var batch = new ArrayBatch();
        AddChild(batch, 0, null);
        AddChild(batch, 1, null);
        var parent = Parent("SUCCEEDED", 2, new JsonObject { ["SUCCEEDED"] = 2 });

        var sent = await DeliverAsync(batch, parent, """{"ArraySummary":true}""");

        var output = JsonNode.Parse(sent.Output!)!.AsObject();
        Assert.Equal("""{"FailedCount":0,"FailedIndices":[],"Size":2,"StatusSummary":{"SUCCEEDED":2}}""",
            new JsonObject(output["BatchSyncArraySummary"]!.AsObject().OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => KeyValuePair.Create(p.Key, p.Value?.DeepClone()))).ToJsonString());
        output.Remove("BatchSyncArraySummary");
        Assert.Equal(TaskResponder.NativeOutput(batch.Jobs[ParentId], null), output.ToJsonString());
        Assert.Single(batch.Described);
    }

    [Fact]
    public async Task Thousands_of_failed_children_cost_a_few_pages_and_a_bounded_list()
    {
        var batch = new ArrayBatch();
        for (var i = 0; i < 2_500; i++)
        {
            AddChild(batch, i, "host-terminated-adapted.json");
        }
        var parent = Parent("FAILED", 2_500, new JsonObject { ["FAILED"] = 2_500 });

        var sent = await DeliverAsync(batch, parent, """{"ArraySummary":true}""");

        Assert.Equal(3, batch.ListRequests.Count);
        Assert.Equal(2, batch.Described.Count);
        Assert.Equal(ArraySummary.MaxChildren, batch.Described[1].Count);
        var summary = JsonNode.Parse(sent.Cause!)!["BatchSyncArraySummary"]!;
        Assert.Equal(2_500, (int)summary["FailedCount"]!);
        Assert.Equal(ArraySummary.MaxListedIndices, summary["FailedIndices"]!.AsArray().Count);
        Assert.True((bool)summary["FailedIndicesTruncated"]!);
        Assert.True(sent.Cause!.Length <= StepFunctionsLimits.CauseChars);
        Assert.Equal("States.TaskFailed", sent.Error);
    }

    [Fact]
    public async Task A_listing_Batch_refuses_is_left_out_and_the_answer_still_goes()
    {
        var batch = new ArrayBatch { ListError = new AwsServiceException("AWSBatch", "ListJobs", HttpStatusCode.TooManyRequests, "TooManyRequestsException", "Too Many Requests", "r-1") };
        var parent = Parent("FAILED", 2, new JsonObject { ["FAILED"] = 2 });

        var sent = await DeliverAsync(batch, parent, """{"ArraySummary":true}""");

        var summary = JsonNode.Parse(sent.Cause!)!["BatchSyncArraySummary"]!;
        Assert.Equal("the children could not be listed: TooManyRequestsException", (string)summary["Omitted"]!);
        Assert.Equal(2, (int)summary["Size"]!);
        Assert.Equal(RecordStatus.Failed, _store.Records[Key].Status);
    }

    [Fact]
    public async Task A_job_that_is_no_array_parent_is_answered_natively()
    {
        var batch = new ArrayBatch();
        var job = Fixtures.Node("failed-jobs/out-of-memory-adapted.json").AsObject();
        job["jobId"] = ParentId;
        job["parameters"] = new JsonObject { [TaskKey.MarkerParameter] = TaskKey.Marker(FakeWorld.Namespace, Key) };

        var sent = await DeliverAsync(batch, job, """{"ArraySummary":true}""");

        Assert.Equal(("States.TaskFailed", TaskResponder.NativeCause(batch.Jobs[ParentId])), (sent.Error, sent.Cause));
        Assert.Empty(batch.ListRequests);
    }

    [Fact]
    public void Children_are_no_array_parents()
    {
        Assert.False(BatchSync.Domain.BatchJob.Of(Wire(JsonNode.Parse("""{"arrayProperties":{"index":3,"size":5}}""")!)).IsArrayParent);
        Assert.True(BatchSync.Domain.BatchJob.Of(Wire(JsonNode.Parse("""{"arrayProperties":{"size":5}}""")!)).IsArrayParent);
        Assert.False(BatchSync.Domain.BatchJob.Of(Wire(JsonNode.Parse("""{"jobId":"x"}""")!)).IsArrayParent);
    }

    private ArrayBatch TwoOfFiveFailed()
    {
        var batch = new ArrayBatch();
        AddChild(batch, 0, null);
        AddChild(batch, 1, "out-of-memory-adapted.json");
        AddChild(batch, 2, null);
        AddChild(batch, 3, "host-terminated-adapted.json");
        AddChild(batch, 4, null);
        return batch;
    }

    private static JsonObject TwoOfFiveParent() => Parent("FAILED", 5, new JsonObject { ["FAILED"] = 2, ["SUCCEEDED"] = 3 });

    [Theory]
    [InlineData("""{"ArraySummary":true,"ToleratedFailureCount":2}""")]
    [InlineData("""{"ArraySummary":true,"ToleratedFailurePercentage":40}""")]
    [InlineData("""{"ArraySummary":true,"ToleratedFailureCount":3,"ToleratedFailurePercentage":50}""")]
    public async Task Failures_within_the_tolerance_answer_success_with_the_summary(string options)
    {
        var batch = TwoOfFiveFailed();

        var sent = await DeliverAsync(batch, TwoOfFiveParent(), options);

        Assert.Equal("SendTaskSuccess", sent.Operation);
        var output = JsonNode.Parse(sent.Output!)!;
        Assert.Equal("FAILED", (string)output["Status"]!);
        Assert.Equal("[1,3]", output["BatchSyncArraySummary"]!["FailedIndices"]!.ToJsonString());
        Assert.Equal(RecordStatus.Succeeded, _store.Records[Key].Status);
        Assert.Equal(("Succeeded", "FAILED"), (LastAnswer!.Action, LastAnswer.Status));
        Assert.Equal("job FAILED within its tolerated failures", LastAnswer.Reason);
    }

    [Theory]
    [InlineData("""{"ArraySummary":true,"ToleratedFailureCount":1}""")]
    [InlineData("""{"ArraySummary":true,"ToleratedFailurePercentage":39.9}""")]
    [InlineData("""{"ArraySummary":true,"ToleratedFailureCount":5,"ToleratedFailurePercentage":20}""")]
    public async Task Failures_beyond_the_tolerance_fail_with_a_name_of_their_own(string options)
    {
        var sent = await DeliverAsync(TwoOfFiveFailed(), TwoOfFiveParent(), options);

        Assert.Equal(("SendTaskFailure", "BatchJob.ToleratedFailureThresholdExceeded"), (sent.Operation, sent.Error));
        Assert.Equal(2, (int)JsonNode.Parse(sent.Cause!)!["BatchSyncArraySummary"]!["FailedCount"]!);
        Assert.Equal(RecordStatus.Failed, _store.Records[Key].Status);
    }

    [Fact]
    public async Task Beyond_the_tolerance_the_typed_failure_has_the_errors_name()
    {
        var sent = await DeliverAsync(TwoOfFiveFailed(), TwoOfFiveParent(), """{"ArraySummary":true,"ToleratedFailureCount":1,"TypedErrors":true}""");

        Assert.Equal(("SendTaskFailure", ArraySummary.ThresholdExceededError), (sent.Operation, sent.Error));
        Assert.Equal(ArraySummary.ThresholdExceededError, (string)JsonNode.Parse(sent.Cause!)!["BatchSyncFailure"]!["Kind"]!);
    }

    [Fact]
    public async Task Without_a_summary_the_tolerance_cannot_apply_and_the_parent_fails_as_usual()
    {
        var batch = TwoOfFiveFailed();
        batch.ListError = new AwsServiceException("AWSBatch", "ListJobs", HttpStatusCode.InternalServerError, "ServerException", "boom", "r-2");

        var sent = await DeliverAsync(batch, TwoOfFiveParent(), """{"ArraySummary":true,"ToleratedFailureCount":4}""");

        Assert.Equal(("SendTaskFailure", "States.TaskFailed"), (sent.Operation, sent.Error));
    }

    [Fact]
    public void The_parents_own_count_is_used_when_it_is_larger_than_the_listed_children()
    {
        var options = new TaskOptions(false, false, new Dictionary<int, string>(), 0, true) { ToleratedFailureCount = 3 };
        var summary = JsonNode.Parse("""{"Size":10,"StatusSummary":{"FAILED":4},"FailedCount":2}""")!.AsObject();
        Assert.False(ArraySummary.Tolerates(options, summary));
        Assert.Null(ArraySummary.Tolerates(options with { ToleratedFailureCount = null }, summary));
    }

    [Theory]
    [InlineData("""{"ToleratedFailureCount":1}""", "BatchSync.ToleratedFailureCount: applies only with \"ArraySummary\": true (the failed children are counted from it)")]
    [InlineData("""{"ArraySummary":true,"ToleratedFailureCount":-1}""", "BatchSync.ToleratedFailureCount: must be a whole number from 0 to 10000, not -1")]
    [InlineData("""{"ArraySummary":true,"ToleratedFailurePercentage":101}""", "BatchSync.ToleratedFailurePercentage: must be a number from 0 to 100, not 101")]
    [InlineData("""{"ArraySummary":true,"ToleratedFailurePercentage":"5%"}""", "BatchSync.ToleratedFailurePercentage: must be a number from 0 to 100, not a string")]
    public async Task Bad_tolerances_are_refused_by_name(string options, string message)
    {
        var world = new FakeWorld();
        await world.Submitter().SubmitAsync(Fixtures.Utf8($$"""{"JobName":"j","JobQueue":"q","JobDefinition":"d","TaskToken":"{{Token}}","BatchSync":{{options}}}"""));
        Assert.Contains(message, world.StepFunctions.Sent.Single().Cause);
        Assert.Empty(world.Batch.Submitted);
    }

    [Fact]
    public async Task The_tolerance_is_kept_on_the_record()
    {
        var world = new FakeWorld();
        await world.Submitter().SubmitAsync(Fixtures.Utf8($$$"""{"JobName":"j","JobQueue":"q","JobDefinition":"d","TaskToken":"{{{Token}}}","BatchSync":{"ToleratedFailurePercentage":2.5,"ArraySummary":true,"ToleratedFailureCount":10}}"""));
        Assert.Equal("""{"ArraySummary":true,"ToleratedFailureCount":10,"ToleratedFailurePercentage":2.5}""", world.Store.Records[Key].Options);
    }
}
