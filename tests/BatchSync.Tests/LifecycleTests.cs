using System.Text.Json;
using BatchSync.Processing;
using BatchSync.Domain;

namespace BatchSync.Tests;

/// <summary>The lifecycle rules: cancel on stop, cancel when the task is gone, heartbeats, the sweep, no duplicate jobs.</summary>
public class LifecycleDecisionTests
{
    private const string Execution = "arn:aws:states:us-east-1:123456789012:execution:sm:run-1";
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeMilliseconds(10_000_000);

    private static TaskRecord Record(RecordStatus status, string? jobId = "job-1", string? execution = Execution, long createdAt = 0) =>
        new() { TaskKey = "k", TaskToken = "t", Status = status, JobId = jobId, ExecutionArn = execution, CreatedAt = createdAt };

    private static ExecutionStatusEvent Stop(string status, string execution = Execution, long? stopDate = null) => new(execution, status, stopDate);

    [Theory]
    [InlineData(TaskReply.Accepted, HeartbeatFollowUp.None)]
    [InlineData(TaskReply.TaskClosed, HeartbeatFollowUp.TerminateAndClose)]
    [InlineData(TaskReply.InvalidToken, HeartbeatFollowUp.LogOnly)]
    public void Heartbeat_answers(TaskReply answer, HeartbeatFollowUp expected) =>
        Assert.Equal(expected, TaskDecisions.AfterHeartbeat(answer));

    [Theory]
    [InlineData("ABORTED")]
    [InlineData("TIMED_OUT")]
    [InlineData("FAILED")]
    public void A_stopped_execution_terminates_its_open_jobs_with_the_native_reason(string status)
    {
        foreach (var open in new[] { RecordStatus.Submitting, RecordStatus.Submitted })
        {
            var close = Assert.IsType<StopDecision.TerminateAndClose>(TaskDecisions.OnExecutionStopped(Record(open), Stop(status)));
            Assert.Equal("job-1", close.JobId);
            Assert.Equal($"The Task state in AWS Step Functions execution [{Execution}] which was managing this resource was aborted", close.TerminateReason);
            Assert.Equal(RecordStatus.Closed, close.Ending.Status);
        }
        // Submit still in flight: close the record; SubmitJob terminates the job it then submits.
        Assert.Null(Assert.IsType<StopDecision.TerminateAndClose>(TaskDecisions.OnExecutionStopped(Record(RecordStatus.Submitting, jobId: null), Stop(status))).JobId);
    }

    [Fact]
    public void Stop_racing_success_the_first_ending_wins()
    {
        foreach (var finished in new[] { RecordStatus.Succeeded, RecordStatus.Failed, RecordStatus.Closed })
        {
            Assert.IsType<StopDecision.Ignore>(TaskDecisions.OnExecutionStopped(Record(finished), Stop("ABORTED")));
        }
        Assert.IsType<StopDecision.Ignore>(TaskDecisions.OnExecutionStopped(Record(RecordStatus.Submitted, execution: "arn:other"), Stop("ABORTED")));
    }

    [Theory]
    [InlineData("SUCCEEDED", typeof(SweepDecision.Deliver))]
    [InlineData("FAILED", typeof(SweepDecision.Deliver))]
    [InlineData("SUBMITTED", typeof(SweepDecision.Heartbeat))]
    [InlineData("PENDING", typeof(SweepDecision.Heartbeat))]
    [InlineData("RUNNABLE", typeof(SweepDecision.Heartbeat))]
    [InlineData("STARTING", typeof(SweepDecision.Heartbeat))]
    [InlineData("RUNNING", typeof(SweepDecision.Heartbeat))]
    public void The_sweep_delivers_lost_outcomes_and_heartbeats_the_rest(string status, Type expected)
    {
        var decision = TaskDecisions.OnSweep(Record(RecordStatus.Submitted), new JobView(status), Now, Timing.Default);
        Assert.IsType(expected, decision);
        if (decision is SweepDecision.Deliver deliver)
        {
            Assert.Equal(status == "SUCCEEDED", deliver.Succeeded);
        }
    }

    [Fact]
    public void A_redriven_run_keeps_its_jobs_when_the_first_run_stop_arrives_late()
    {
        var stopDate = Now.ToUnixTimeMilliseconds();
        Assert.IsType<StopDecision.TerminateAndClose>(TaskDecisions.OnExecutionStopped(Record(RecordStatus.Submitted, createdAt: stopDate - 1), Stop("FAILED", stopDate: stopDate)));
        Assert.IsType<StopDecision.TerminateAndClose>(TaskDecisions.OnExecutionStopped(Record(RecordStatus.Submitted, createdAt: stopDate), Stop("FAILED", stopDate: stopDate)));
        var redriven = Assert.IsType<StopDecision.Ignore>(TaskDecisions.OnExecutionStopped(Record(RecordStatus.Submitted, createdAt: stopDate + 1), Stop("FAILED", stopDate: stopDate)));
        Assert.Contains("redriven", redriven.Why);
        // Without a stopDate (an older event shape), every open record of the execution is stopped.
        Assert.IsType<StopDecision.TerminateAndClose>(TaskDecisions.OnExecutionStopped(Record(RecordStatus.Submitted, createdAt: long.MaxValue), Stop("FAILED")));
    }
}

[Collection(LogCapture.Collection)]
public class LifecycleProcessorTests
{
    private const string Execution = "arn:aws:states:us-east-1:123456789012:execution:sm:run-1";
    private readonly FakeWorld _world = new();

    private TaskRecord Open(string token, string? jobId, string? execution = Execution, string? result = null, long createdAt = 0, RecordStatus? status = null)
    {
        var record = new TaskRecord
        {
            TaskKey = TaskKey.For(token), TaskToken = token, Status = status ?? (jobId is null ? RecordStatus.Submitting : RecordStatus.Submitted),
            JobId = jobId, ExecutionArn = execution, Result = result, JobName = "j", JobQueue = "q", CreatedAt = createdAt,
        };
        _world.Store.Records[record.TaskKey] = record;
        return record;
    }

    private void BatchKnows(string jobId, string status, string token, long? createdAt = null) =>
        _world.Batch.Jobs[jobId] = FakeWorld.Detail(FakeWorld.Event(jobId, status, TaskKey.Marker(FakeWorld.Namespace, TaskKey.For(token)),
            createdAt: createdAt ?? _world.Store.Records.GetValueOrDefault(TaskKey.For(token))?.CreatedAt ?? 1));

    private static byte[] ExecutionEvent(string executionArn, string status) => Fixtures.Utf8(
        $$"""{"version":"0","id":"x","detail-type":"Step Functions Execution Status Change","source":"aws.states","account":"123456789012","time":"2026-01-01T00:00:00Z","region":"us-east-1","resources":["{{executionArn}}"],"detail":{"executionArn":"{{executionArn}}","stateMachineArn":"arn:aws:states:us-east-1:123456789012:stateMachine:sm","name":"run-1","status":"{{status}}" """ + "}}");

    private static readonly byte[] Scheduled = Fixtures.Utf8("""{"version":"0","id":"s","detail-type":"Scheduled Event","source":"aws.events","detail":{}}""");

    [Fact]
    public async Task Stopping_an_execution_terminates_only_its_unfinished_jobs()
    {
        var a = Open("a", "job-a");
        var b = Open("b", "job-b", status: RecordStatus.Succeeded);
        var c = Open("c", "job-c", execution: "arn:aws:states:us-east-1:123456789012:execution:sm:other");
        var d = Open("d", null);

        var answer = await _world.Reconciler().HandleAsync(ExecutionEvent(Execution, "ABORTED"));

        Assert.Equal(("Stopped", 2, 1), (answer.Action, answer.Examined, answer.Terminated));
        var reason = $"The Task state in AWS Step Functions execution [{Execution}] which was managing this resource was aborted";
        Assert.Equal([("job-a", reason)], _world.Batch.Terminated);
        Assert.Equal(RecordStatus.Closed, _world.Store.Records[a.TaskKey].Status);
        Assert.Equal(RecordStatus.Succeeded, _world.Store.Records[b.TaskKey].Status);
        Assert.Equal(RecordStatus.Submitted, _world.Store.Records[c.TaskKey].Status);
        Assert.Equal(RecordStatus.Closed, _world.Store.Records[d.TaskKey].Status);
        Assert.Empty(_world.StepFunctions.Sent);
    }

    [Theory]
    [InlineData("SUCCEEDED")]
    [InlineData("RUNNING")]
    public async Task Executions_that_did_not_stop_change_nothing(string status)
    {
        Open("a", "job-a");
        var answer = await _world.Reconciler().HandleAsync(ExecutionEvent(Execution, status));
        Assert.Equal("Ignored", answer.Action);
        Assert.Empty(_world.Batch.Terminated);
    }

    [Fact]
    public async Task A_success_after_the_stop_is_ignored_and_a_stop_after_the_success_terminates_nothing()
    {
        var record = Open("a", "job-a");
        await _world.Reconciler().HandleAsync(ExecutionEvent(Execution, "ABORTED"));
        var late = await _world.Events().HandleAsync(FakeWorld.Event("job-a", "SUCCEEDED", TaskKey.Marker(FakeWorld.Namespace, record.TaskKey)));
        Assert.Equal("Ignored", late.Action);
        Assert.Empty(_world.StepFunctions.Sent);

        var other = Open("b", "job-b");
        await _world.Events().HandleAsync(FakeWorld.Event("job-b", "SUCCEEDED", TaskKey.Marker(FakeWorld.Namespace, other.TaskKey)));
        _world.Batch.Terminated.Clear();
        await _world.Reconciler().HandleAsync(ExecutionEvent(Execution, "ABORTED"));
        Assert.Empty(_world.Batch.Terminated);
        Assert.Equal(RecordStatus.Succeeded, _world.Store.Records[other.TaskKey].Status);
    }

    [Fact]
    public async Task A_heartbeat_that_finds_the_task_gone_terminates_the_job()
    {
        var record = Open("a", "job-a");
        _world.StepFunctions.Answer = TaskReply.TaskClosed;

        var answer = await _world.Events().HandleAsync(FakeWorld.Event("job-a", "RUNNING", TaskKey.Marker(FakeWorld.Namespace, record.TaskKey)));

        Assert.Equal("Terminated", answer.Action);
        Assert.Equal([("job-a", TaskDecisions.TaskClosedReason)], _world.Batch.Terminated);
        Assert.Equal(RecordStatus.Closed, _world.Store.Records[record.TaskKey].Status);
    }

    [Fact]
    public async Task A_failed_terminate_leaves_the_record_open_for_the_retry()
    {
        var record = Open("a", "job-a");
        var failing = new ThrowingTerminateBatch(_world.Batch);
        var reconciler = new Reconciler(failing, _world.StepFunctions, _world.Store, FakeWorld.Namespace, TimeProvider.System);
        await Assert.ThrowsAsync<TimeoutException>(() => reconciler.HandleAsync(ExecutionEvent(Execution, "ABORTED")));
        Assert.Equal(RecordStatus.Submitted, _world.Store.Records[record.TaskKey].Status);

        await _world.Reconciler().HandleAsync(ExecutionEvent(Execution, "ABORTED"));
        Assert.Equal(RecordStatus.Closed, _world.Store.Records[record.TaskKey].Status);
        Assert.Single(_world.Batch.Terminated);
    }

    private sealed class ThrowingTerminateBatch(FakeBatch inner) : Domain.IBatchApi
    {
        public Task<SubmittedJob> SubmitServiceJobAsync(byte[] requestBody, CancellationToken cancellationToken = default) => throw new NotSupportedException("no service jobs here");
        public Task<BatchJob?> DescribeServiceJobAsync(string jobId, CancellationToken cancellationToken = default) => throw new NotSupportedException("no service jobs here");
        public Task TerminateServiceJobAsync(string jobId, string reason, CancellationToken cancellationToken = default) => throw new NotSupportedException("no service jobs here");
        public Task<JobPage> ListServiceJobsNamedAsync(string jobQueue, string jobName, string? nextToken, CancellationToken cancellationToken = default) => throw new NotSupportedException("no service jobs here");
        public Task<Domain.SubmittedJob> SubmitJobAsync(byte[] requestBody, CancellationToken cancellationToken = default) => inner.SubmitJobAsync(requestBody, cancellationToken);
        public Task<IReadOnlyList<Domain.BatchJob>> DescribeJobsAsync(IReadOnlyList<string> jobIds, CancellationToken cancellationToken = default) => inner.DescribeJobsAsync(jobIds, cancellationToken);
        public Task TerminateJobAsync(string jobId, string reason, CancellationToken cancellationToken = default) => throw new TimeoutException("no answer");
        public Task<Domain.JobPage> ListJobsNamedAsync(string jobQueue, string jobName, string? nextToken, CancellationToken cancellationToken = default) => inner.ListJobsNamedAsync(jobQueue, jobName, nextToken, cancellationToken);
        public Task<Domain.JobPage> ListFailedChildrenAsync(string arrayJobId, int pageSize, string? nextToken, CancellationToken cancellationToken = default) => inner.ListFailedChildrenAsync(arrayJobId, pageSize, nextToken, cancellationToken);
    }

    [Fact]
    public async Task A_refused_heartbeat_token_changes_nothing()
    {
        var record = Open("a", "job-a");
        _world.StepFunctions.Answer = TaskReply.InvalidToken;
        await _world.Events().HandleAsync(FakeWorld.Event("job-a", "RUNNING", TaskKey.Marker(FakeWorld.Namespace, record.TaskKey)));
        Assert.Empty(_world.Batch.Terminated);
        Assert.Equal(RecordStatus.Submitted, _world.Store.Records[record.TaskKey].Status);
    }

    [Fact]
    public async Task A_callback_heartbeat_that_finds_the_task_gone_terminates_the_job()
    {
        var record = Open("a", "job-a");
        _world.StepFunctions.Answer = TaskReply.TaskClosed;
        var answer = await _world.Callbacks().HandleAsync(Fixtures.Utf8("""{"JobId":"job-a","Heartbeat":true}"""));
        Assert.False(answer.Waiting);
        Assert.Equal([("job-a", TaskDecisions.TaskClosedReason)], _world.Batch.Terminated);
        Assert.Equal(RecordStatus.Closed, _world.Store.Records[record.TaskKey].Status);
    }

    [Fact]
    public async Task The_sweep_completes_every_task_whose_events_were_lost_exactly_once()
    {
        var succeeded = Open("s", "job-s", result: """{"rows":7}""");
        var failed = Open("f", "job-f");
        var running = Open("r", "job-r");
        var gone = Open("g", "job-g");
        BatchKnows("job-s", "SUCCEEDED", "s");
        BatchKnows("job-f", "FAILED", "f");
        BatchKnows("job-r", "RUNNING", "r");

        var first = await _world.Reconciler().HandleAsync(Scheduled);
        // Batch's lists may lag: a job missing once is only noted; a later sweep past the grace fails its task.
        Assert.Equal((4, 2, 1, 0), (first.Examined, first.Delivered, first.Heartbeats, first.Failed));
        Assert.NotNull(_world.Store.Records[gone.TaskKey].JobMissingSince);
        // Each record checked is due again later (these are old tasks: MaxCheckInterval later); nothing is due before.
        var soon = await _world.Reconciler(DateTimeOffset.UtcNow + Timing.Default.JobMissingGrace / 2).HandleAsync(Scheduled);
        Assert.Equal((0, 0), (soon.Examined, soon.Failed));
        var later = await _world.Reconciler(DateTimeOffset.UtcNow + Timing.Default.MaxCheckInterval + TimeSpan.FromMinutes(1)).HandleAsync(Scheduled);
        Assert.Equal((2, 1), (later.Examined, later.Failed));
        Assert.Equal(RecordStatus.Succeeded, _world.Store.Records[succeeded.TaskKey].Status);
        Assert.Equal(7, JsonDocument.Parse(_world.StepFunctions.Sent.Single(x => x.Token == "s").Output!).RootElement.GetProperty("Result").GetProperty("rows").GetInt32());
        Assert.Equal("States.TaskFailed", _world.StepFunctions.Sent.Single(x => x.Token == "f").Error);
        Assert.Equal(("BatchSync.JobNotFound", RecordStatus.Failed), (_world.StepFunctions.Sent.Single(x => x.Token == "g").Error, _world.Store.Records[gone.TaskKey].Status));
        Assert.Equal(RecordStatus.Submitted, _world.Store.Records[running.TaskKey].Status);

        var sentBefore = _world.StepFunctions.Sent.Count(x => x.Operation != "SendTaskHeartbeat");
        var second = await _world.Reconciler(DateTimeOffset.UtcNow + Timing.Default.MaxCheckInterval * 2 + TimeSpan.FromMinutes(2)).HandleAsync(Scheduled);
        Assert.Equal((1, 0), (second.Examined, second.Delivered));
        Assert.Equal(sentBefore, _world.StepFunctions.Sent.Count(x => x.Operation != "SendTaskHeartbeat"));

        // The lost event turns up after all: nothing more happens.
        var late = await _world.Events().HandleAsync(FakeWorld.Event("job-s", "SUCCEEDED", TaskKey.Marker(FakeWorld.Namespace, succeeded.TaskKey)));
        Assert.Equal("Ignored", late.Action);
        Assert.Equal(failed.TaskKey, _world.Store.Records[failed.TaskKey].TaskKey);
    }

    [Fact]
    public async Task The_sweep_reads_only_due_records_and_describes_their_jobs_100_at_a_time()
    {
        for (var i = 0; i < 250; i++)
        {
            Open($"t{i}", $"job-{i}", createdAt: i);
            BatchKnows($"job-{i}", "RUNNING", $"t{i}");
        }
        for (var i = 0; i < 50; i++)
        {
            Open($"done{i}", $"job-done-{i}", status: RecordStatus.Succeeded);
        }
        var notDue = Open("young", "job-young");
        _world.Store.Records[notDue.TaskKey] = notDue with { NextCheckAt = DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeMilliseconds() };

        var answer = await _world.Reconciler().HandleAsync(Scheduled);

        Assert.Equal((250, 250), (answer.Examined, answer.Heartbeats));
        Assert.Equal(3, _world.Log.Calls.Count(c => c == "Batch.DescribeJobs"));
        Assert.Equal(1, _world.Log.Calls.Count(c => c == "Store.ListDue"));
        Assert.All(_world.Store.Records.Values.Where(r => r.JobId!.StartsWith("job-") && !r.IsFinished && r.TaskKey != notDue.TaskKey),
            r => Assert.True(r.NextCheckAt > DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), "each record checked is due again later"));
        Assert.Equal(0, (await _world.Reconciler().HandleAsync(Scheduled)).Examined);
    }

    [Fact]
    public async Task The_sweep_finds_the_job_of_a_crashed_submit_or_fails_the_task()
    {
        var old = (DateTimeOffset.UtcNow - TimeSpan.FromMinutes(10)).ToUnixTimeMilliseconds();
        var orphaned = Open("o", null, createdAt: old);
        var lost = Open("l", null, createdAt: old);
        BatchKnows("job-o", "RUNNING", "o");

        var answer = await _world.Reconciler().HandleAsync(Scheduled);

        Assert.Equal("job-o", _world.Store.Records[orphaned.TaskKey].JobId);
        Assert.Equal(RecordStatus.Submitted, _world.Store.Records[orphaned.TaskKey].Status);
        Assert.Equal((TaskDecisions.SubmitOutcomeUnknownError, RecordStatus.Failed), (_world.StepFunctions.Sent.Single().Error, _world.Store.Records[lost.TaskKey].Status));
        Assert.Equal(1, answer.Failed);
    }

    [Theory]
    [InlineData("""{"detail-type":"Something Else","source":"aws.x","detail":{}}""")]
    [InlineData("""{"detail-type":"Step Functions Execution Status Change","detail":{"status":"ABORTED"}}""")]
    [InlineData("""[]""")]
    [InlineData("""{""")]
    public async Task Malformed_reconcile_events_are_named(string json)
    {
        var error = await Assert.ThrowsAsync<InvalidEventException>(() => _world.Reconciler().HandleAsync(Fixtures.Utf8(json)));
        Assert.Equal("BatchSync.InvalidEvent", error.ErrorName);
    }
}

[Collection(LogCapture.Collection)]
public class NoDuplicateJobTests
{
    private const string Token = "token-no-duplicates";
    private static readonly string Payload = $$"""{"JobName":"j","JobQueue":"q","JobDefinition":"d","TaskToken":"{{Token}}","ExecutionArn":"arn:aws:states:us-east-1:123456789012:execution:sm:run-1","StateName":"RunBatchJob"}""";
    private readonly FakeWorld _world = new();

    [Fact]
    public async Task Execution_and_state_are_kept_on_the_record()
    {
        await _world.Submitter().SubmitAsync(Fixtures.Utf8(Payload));
        var record = _world.Store.Records.Values.Single();
        Assert.Equal(("arn:aws:states:us-east-1:123456789012:execution:sm:run-1", "RunBatchJob", "q"), (record.ExecutionArn, record.StateName, record.JobQueue));
        Assert.DoesNotContain("ExecutionArn", JsonText.ToText(_world.Batch.Submitted.Single()));
    }

    [Theory]
    [InlineData("\"ExecutionArn\":\"not-an-arn\"", "ExecutionArn: must be an execution ARN")]
    [InlineData("\"ExecutionArn\":5", "ExecutionArn: must be an execution ARN")]
    [InlineData("\"StateName\":\"\"", "StateName: must be 1 to 80 characters")]
    public void Bad_execution_members_are_named(string member, string expected)
    {
        var mapping = Mapping.SubmitRequestMapper.Map(Fixtures.Utf8($$"""{"JobName":"j","JobQueue":"q","JobDefinition":"d",{{member}}}"""));
        Assert.Contains(expected, Domain.InputProblem.Describe(mapping.Problems));
    }

    [Fact]
    public async Task A_retry_after_a_crash_between_submit_and_record_finds_the_first_job()
    {
        // The first attempt wrote the record and submitted, then died before noting the job.
        await _world.Submitter().SubmitAsync(Fixtures.Utf8(Payload));
        var key = TaskKey.For(Token);
        var job = _world.Batch.Submitted.Single();
        _world.Batch.Jobs["job-1"] = JsonDocument.Parse(JsonText.ToText(new System.Text.Json.Nodes.JsonObject
        {
            ["jobId"] = "job-1", ["jobName"] = "j", ["jobArn"] = "arn:aws:batch:us-east-1:123456789012:job/job-1", ["status"] = "RUNNABLE",
            ["parameters"] = job["parameters"]!.DeepClone(),
        })).RootElement.Clone();
        _world.Store.Records[key] = _world.Store.Records[key] with { JobId = null, JobArn = null, Status = RecordStatus.Submitting };

        var answer = await _world.Submitter().SubmitAsync(Fixtures.Utf8(Payload));

        Assert.Single(_world.Batch.Submitted);
        Assert.Equal("job-1", answer.JobId);
        Assert.Equal("job-1", _world.Store.Records[key].JobId);
    }

    [Fact]
    public async Task A_job_submitted_after_its_execution_stopped_is_terminated_at_once()
    {
        var key = TaskKey.For(Token);
        // The stop handler closes the record between the submit and the attach.
        _world.Store.BeforeAttach = () => _world.Store.Records[key] = _world.Store.Records[key] with { Status = RecordStatus.Closed, Reason = "execution ABORTED" };

        await _world.Submitter().SubmitAsync(Fixtures.Utf8(Payload));

        var (jobId, reason) = Assert.Single(_world.Batch.Terminated);
        Assert.Equal("job-1", jobId);
        Assert.Equal("The Task state in AWS Step Functions execution [arn:aws:states:us-east-1:123456789012:execution:sm:run-1] which was managing this resource was aborted", reason);
    }

    [Fact]
    public async Task A_job_whose_outcome_beat_the_attach_is_not_terminated()
    {
        var key = TaskKey.For(Token);
        // The job's SUCCEEDED event noted the job, then answered the task, before the submitter's own attach.
        _world.Store.BeforeAttach = () => _world.Store.Records[key] = _world.Store.Records[key] with { Status = RecordStatus.Succeeded, JobId = "job-1" };
        await _world.Submitter().SubmitAsync(Fixtures.Utf8(Payload));
        Assert.Empty(_world.Batch.Terminated);
    }
}
