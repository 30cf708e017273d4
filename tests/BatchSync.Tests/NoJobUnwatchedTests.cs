using System.Net;
using System.Text.Json;
using BatchSync.Composition;
using BatchSync.Aws;
using BatchSync.Logging;
using BatchSync.Processing;
using BatchSync.Domain;

namespace BatchSync.Tests;

/// <summary>The rules that keep one token to one job, and every job of ours watched or terminated: each branch.</summary>
public class UnwatchedJobDecisionTests
{
    private const string Execution = "arn:aws:states:us-east-1:123456789012:execution:sm:run-1";
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeMilliseconds(100_000_000);
    private static readonly long NowMs = Now.ToUnixTimeMilliseconds();
    private static readonly string Key = TaskKey.For("token");

    private static TaskRecord Record(RecordStatus status = RecordStatus.Submitting, string? jobId = null, SubmitState? submit = null,
        long? leaseUntil = null, long createdAt = 0, string? execution = Execution, long? missingSince = null) => new()
    {
        TaskKey = Key, TaskToken = "token", Status = status, JobId = jobId, Submit = submit, LeaseUntil = leaseUntil,
        CreatedAt = createdAt, ExecutionArn = execution, JobMissingSince = missingSince, JobName = "j", JobQueue = "q",
    };

    private static JobStateEvent Evt(string jobId, string status) =>
        JobStateEvent.Parse(JsonDocument.Parse(FakeWorld.Event(jobId, status, TaskKey.Marker(FakeWorld.Namespace, Key))).RootElement, copyDetail: true);

    public static readonly string[] Progress = ["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING"];

    [Fact]
    public void A_second_invocation_defers_to_a_live_lease_and_acts_on_what_the_last_holder_left()
    {
        Assert.IsType<RetryDecision.AnswerAsEnded>(TaskDecisions.OnSubmitRetry(Record(RecordStatus.Failed), Now));
        Assert.IsType<RetryDecision.AnswerAsEnded>(TaskDecisions.OnSubmitRetry(Record(RecordStatus.Closed, jobId: "job-1"), Now));
        Assert.IsType<RetryDecision.AnswerWithJob>(TaskDecisions.OnSubmitRetry(Record(RecordStatus.Submitted, jobId: "job-1"), Now));
        var wait = Assert.IsType<RetryDecision.WaitForHolder>(TaskDecisions.OnSubmitRetry(Record(submit: SubmitState.Leased, leaseUntil: NowMs + 5_000), Now));
        Assert.Equal(TimeSpan.FromSeconds(5), wait.LeaseLeft);
        // A lease that ran out: the holder died, perhaps after Batch created the job. Look for it; never submit blindly.
        Assert.Equal(new RetryDecision.FindJob(SubmitState.Leased), TaskDecisions.OnSubmitRetry(Record(submit: SubmitState.Leased, leaseUntil: NowMs - 1), Now));
        Assert.Equal(new RetryDecision.FindJob(SubmitState.Leased), TaskDecisions.OnSubmitRetry(Record(submit: SubmitState.Leased, leaseUntil: NowMs), Now));
        Assert.Equal(new RetryDecision.FindJob(SubmitState.Leased), TaskDecisions.OnSubmitRetry(Record(), Now));
        Assert.Equal(new RetryDecision.FindJob(SubmitState.OutcomeUnknown), TaskDecisions.OnSubmitRetry(Record(submit: SubmitState.OutcomeUnknown), Now));
        Assert.IsType<RetryDecision.SubmitAgain>(TaskDecisions.OnSubmitRetry(Record(submit: SubmitState.NotSent), Now));
    }

    public static TheoryData<Exception, CallFailure?> CallFailures() => new()
    {
        { new AwsServiceException("AWSBatch", "SubmitJob", HttpStatusCode.BadRequest, "ClientException", "no queue", "r"), CallFailure.Refused },
        { new AwsServiceException("AWSBatch", "SubmitJob", HttpStatusCode.Forbidden, "AccessDeniedException", "no", "r"), CallFailure.Refused },
        { new AwsServiceException("AWSBatch", "SubmitJob", HttpStatusCode.TooManyRequests, "TooManyRequestsException", "slow down", "r"), CallFailure.NotSent },
        { new AwsServiceException("AWSStepFunctions", "SendTaskSuccess", HttpStatusCode.BadRequest, "ThrottlingException", "slow down", "r"), CallFailure.NotSent },
        { new AwsServiceException("AWSBatch", "SubmitJob", HttpStatusCode.InternalServerError, "ServerException", "oops", "r"), CallFailure.OutcomeUnknown },
        { new AwsServiceException("AWSBatch", "SubmitJob", HttpStatusCode.ServiceUnavailable, "ServiceUnavailable", null, null), CallFailure.OutcomeUnknown },
        { new AwsTransportException("AWSBatch", "SubmitJob", 1, new TimeoutException("5 s")), CallFailure.OutcomeUnknown },
        { new AwsTransportException("AWSBatch", "SubmitJob", 1, new HttpRequestException("reset", null, HttpStatusCode.OK)), CallFailure.OutcomeUnknown },
        { new AwsTransportException("AWSBatch", "SubmitJob", 4, new HttpRequestException(HttpRequestError.ConnectionError, "refused")), CallFailure.NotSent },
        { new BudgetExhaustedException("AWSBatch", "SubmitJob", null), CallFailure.NotSent },
        { new OperationCanceledException(), CallFailure.OutcomeUnknown },
        { new NullReferenceException(), null },
        { new InvalidOperationException("a bug"), null },
    };

    [Theory]
    [MemberData(nameof(CallFailures))]
    public void Only_a_definite_4xx_is_a_refusal_and_only_throttling_or_no_connection_proves_nothing_was_done(Exception failure, CallFailure? expected) =>
        Assert.Equal(expected, TaskDecisions.OnCallFailure(failure));

    [Fact]
    public void A_search_adopts_the_oldest_job_terminates_the_rest_and_fails_only_after_the_grace()
    {
        var jobs = new[] { new SubmittedJob("arn:1", "job-1", "j"), new SubmittedJob("arn:2", "job-2", "j") };
        var adopt = Assert.IsType<SearchDecision.Adopt>(TaskDecisions.OnJobSearch(Record(createdAt: NowMs), jobs, Now, Timing.Default));
        Assert.Equal("job-1", adopt.Job.JobId);
        Assert.Equal(["job-2"], adopt.Extra.Select(j => j.JobId));
        Assert.IsType<SearchDecision.KeepWaiting>(TaskDecisions.OnJobSearch(Record(createdAt: NowMs - 60_000), [], Now, Timing.Default));
        var justInside = NowMs - (long)Timing.Default.SubmitGrace.TotalMilliseconds + 1;
        Assert.IsType<SearchDecision.KeepWaiting>(TaskDecisions.OnJobSearch(Record(createdAt: justInside), [], Now, Timing.Default));
        var fail = Assert.IsType<SearchDecision.FailTask>(TaskDecisions.OnJobSearch(Record(createdAt: justInside - 1), [], Now, Timing.Default));
        Assert.Equal("BatchSync.SubmitOutcomeUnknown", fail.Error);
        Assert.Contains("queue q", fail.Cause);
    }

    [Fact]
    public void A_job_its_record_does_not_take_is_terminated_with_the_native_reason_when_the_execution_is_known()
    {
        Assert.IsType<AttachFollowUp.Keep>(TaskDecisions.AfterAttach(AttachOutcome.Attached, Record(RecordStatus.Submitted, "job-1")));
        Assert.IsType<AttachFollowUp.Keep>(TaskDecisions.AfterAttach(AttachOutcome.AlreadyAttached, Record(RecordStatus.Succeeded, "job-1")));
        var other = Assert.IsType<AttachFollowUp.Terminate>(TaskDecisions.AfterAttach(AttachOutcome.OtherJob, Record(RecordStatus.Submitted, "job-1")));
        Assert.Equal(TaskDecisions.AbortedReason(Execution), other.Reason);
        var ended = Assert.IsType<AttachFollowUp.Terminate>(TaskDecisions.AfterAttach(AttachOutcome.FinishedWithoutJob, Record(RecordStatus.Failed, execution: null)));
        Assert.Equal(TaskDecisions.TaskClosedReason, ended.Reason);
        Assert.Equal(TaskDecisions.TaskClosedReason, Assert.IsType<AttachFollowUp.Terminate>(TaskDecisions.AfterAttach(AttachOutcome.NoRecord, null)).Reason);
    }

    [Fact]
    public void Attach_outcomes_are_read_from_the_record_after_the_write()
    {
        Assert.Equal(AttachOutcome.Attached, AttachOutcomes.Of(Record(RecordStatus.Submitted, "job-1"), "job-1", written: true));
        Assert.Equal(AttachOutcome.AlreadyAttached, AttachOutcomes.Of(Record(RecordStatus.Submitted, "job-1"), "job-1", written: false));
        Assert.Equal(AttachOutcome.OtherJob, AttachOutcomes.Of(Record(RecordStatus.Submitted, "job-2"), "job-1", written: false));
        Assert.Equal(AttachOutcome.FinishedWithoutJob, AttachOutcomes.Of(Record(RecordStatus.Closed), "job-1", written: false));
        Assert.Equal(AttachOutcome.NoRecord, AttachOutcomes.Of(null, "job-1", written: false));
    }

    [Theory]
    [MemberData(nameof(ProgressStatuses))]
    public void A_running_job_whose_record_names_another_or_ended_without_it_is_terminated(string status)
    {
        var other = Assert.IsType<EventDecision.Terminate>(TaskDecisions.OnJobEvent(Evt("job-2", status), FakeWorld.Namespace, Record(RecordStatus.Submitted, "job-1")));
        Assert.Equal(TaskDecisions.AbortedReason(Execution), other.Reason);
        Assert.Contains("names job job-1", other.Why);
        foreach (var ended in new[] { RecordStatus.Succeeded, RecordStatus.Failed, RecordStatus.Closed })
        {
            var orphan = Assert.IsType<EventDecision.Terminate>(TaskDecisions.OnJobEvent(Evt("job-2", status), FakeWorld.Namespace, Record(ended, execution: null)));
            Assert.Equal(TaskDecisions.TaskClosedReason, orphan.Reason);
            // The job the record does name: a late event, nothing to do.
            Assert.IsType<EventDecision.Ignore>(TaskDecisions.OnJobEvent(Evt("job-1", status), FakeWorld.Namespace, Record(ended, "job-1")));
        }
    }

    public static TheoryData<string> ProgressStatuses() => [.. Progress];

    [Theory]
    [InlineData("SUCCEEDED")]
    [InlineData("FAILED")]
    public void A_job_nobody_waits_for_that_has_ended_needs_nothing(string status)
    {
        Assert.IsType<EventDecision.Ignore>(TaskDecisions.OnJobEvent(Evt("job-2", status), FakeWorld.Namespace, Record(RecordStatus.Submitted, "job-1")));
        Assert.IsType<EventDecision.Ignore>(TaskDecisions.OnJobEvent(Evt("job-2", status), FakeWorld.Namespace, Record(RecordStatus.Closed)));
    }

    [Fact]
    public void The_sweep_leaves_a_live_submit_alone_and_looks_for_the_job_of_any_other()
    {
        var timing = Timing.Default;
        Assert.IsType<SweepDecision.Ignore>(TaskDecisions.OnSweep(Record(submit: SubmitState.Leased, leaseUntil: NowMs + 1), null, Now, timing));
        Assert.Equal(new SweepDecision.FindJob(SubmitState.Leased), TaskDecisions.OnSweep(Record(submit: SubmitState.Leased, leaseUntil: NowMs - 1), null, Now, timing));
        Assert.Equal(new SweepDecision.FindJob(SubmitState.Leased), TaskDecisions.OnSweep(Record(), null, Now, timing));
        Assert.Equal(new SweepDecision.FindJob(SubmitState.OutcomeUnknown), TaskDecisions.OnSweep(Record(submit: SubmitState.OutcomeUnknown, createdAt: NowMs), null, Now, timing));
        Assert.IsType<SweepDecision.Ignore>(TaskDecisions.OnSweep(Record(submit: SubmitState.NotSent, createdAt: NowMs - 1000), null, Now, timing));
        var notSent = Assert.IsType<SweepDecision.FailTask>(TaskDecisions.OnSweep(Record(submit: SubmitState.NotSent, createdAt: NowMs - (long)timing.SubmitGrace.TotalMilliseconds), null, Now, timing));
        Assert.Equal("BatchSync.SubmitNotSent", notSent.Error);
    }

    [Fact]
    public void A_job_missing_from_DescribeJobs_fails_its_task_only_after_two_sweeps_a_grace_apart()
    {
        var timing = Timing.Default;
        var grace = (long)timing.JobMissingGrace.TotalMilliseconds;
        Assert.IsType<SweepDecision.MarkJobMissing>(TaskDecisions.OnSweep(Record(RecordStatus.Submitted, "job-1"), null, Now, timing));
        Assert.IsType<SweepDecision.Ignore>(TaskDecisions.OnSweep(Record(RecordStatus.Submitted, "job-1", missingSince: NowMs - grace + 1), null, Now, timing));
        var fail = Assert.IsType<SweepDecision.FailTask>(TaskDecisions.OnSweep(Record(RecordStatus.Submitted, "job-1", missingSince: NowMs - grace), null, Now, timing));
        Assert.Equal("BatchSync.JobNotFound", fail.Error);
        Assert.IsType<SweepDecision.Heartbeat>(TaskDecisions.OnSweep(Record(RecordStatus.Submitted, "job-1", missingSince: NowMs - grace), new JobView("RUNNING"), Now, timing));
    }

    [Fact]
    public void Only_the_job_a_record_names_speaks_for_its_task()
    {
        var heartbeat = new CallbackRequest("job-2", CallbackKind.Heartbeat, null, null, null);
        var other = Assert.IsType<JobNotFoundException>(Assert.IsType<CallbackDecision.Reject>(TaskDecisions.OnCallback(heartbeat, Record(RecordStatus.Submitted, "job-1"))).Error);
        Assert.Contains("names job job-1", other.Message);
        Assert.IsType<JobNotFoundException>(Assert.IsType<CallbackDecision.Reject>(TaskDecisions.OnCallback(heartbeat, Record())).Error);
        Assert.IsType<JobNotFoundException>(Assert.IsType<CallbackDecision.Reject>(TaskDecisions.OnCallback(heartbeat, Record(RecordStatus.Closed))).Error);
        Assert.IsType<CallbackDecision.SendHeartbeat>(TaskDecisions.OnCallback(heartbeat, Record(RecordStatus.Submitted, "job-2")));
    }

    [Theory]
    [InlineData(TaskReply.Accepted, true)]
    [InlineData(TaskReply.TaskClosed, false)]
    [InlineData(TaskReply.InvalidToken, false)]
    public void After_a_lost_acknowledgment_only_a_task_that_still_waits_is_answered(TaskReply probe, bool send)
    {
        Assert.Equal(send, TaskDecisions.MaySendAfterProbe(probe));
        Assert.Equal(RecordStatus.Closed, TaskDecisions.AnswerPresumedTaken(probe, "job SUCCEEDED").Status);
    }

    public static TheoryData<Exception, bool> Failures() => new()
    {
        { new AwsServiceException("AWSBatch", "DescribeJobs", HttpStatusCode.ServiceUnavailable, "X", null, null), true },
        { new AwsTransportException("AWSBatch", "DescribeJobs", 4, new TimeoutException()), true },
        { new BudgetExhaustedException("AWSBatch", "DescribeJobs", null), true },
        { new Amazon.DynamoDBv2.Model.ProvisionedThroughputExceededException("slow"), true },
        { new HttpRequestException("reset"), true },
        { new TaskCanceledException(), true },
        { new AggregateException(new TimeoutException(), new HttpRequestException()), true },
        { new NullReferenceException(), false },
        { new KeyNotFoundException(), false },
        { new AggregateException(new TimeoutException(), new InvalidOperationException()), false },
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public void Dependency_failures_are_told_apart_from_bugs(Exception e, bool dependency) =>
        Assert.Equal(dependency, DependencyFailures.IsDependencyFailure(e));
}

/// <summary>The flows, with fakes as strict as the services: concurrent and retried invocations, lost answers, lagging lists.</summary>
[Collection(LogCapture.Collection)]
public class OneTokenOneJobTests
{
    private const string Token = "token-one-job";
    private const string Execution = "arn:aws:states:us-east-1:123456789012:execution:sm:run-1";
    private static readonly string Key = TaskKey.For(Token);
    private static readonly string Marker = TaskKey.Marker(FakeWorld.Namespace, Key);
    private static readonly string Payload = $$"""{"JobName":"j","JobQueue":"q","JobDefinition":"d","TaskToken":"{{Token}}","ExecutionArn":"{{Execution}}"}""";
    private readonly FakeWorld _world = new();

    public OneTokenOneJobTests() => _world.Batch.KeepSubmitted = true;

    private Task<SubmitJobResponse> Submit(DateTimeOffset? now = null) => _world.Submitter(now).SubmitAsync(Fixtures.Utf8(Payload));

    private TaskRecord Stored => _world.Store.Records[Key];

    private int TerminalAnswers => _world.StepFunctions.Sent.Count(s => s.Operation != "SendTaskHeartbeat");

    private static AwsServiceException Error(int status, string code) => new("AWSBatch", "SubmitJob", (HttpStatusCode)status, code, "injected", "req-1");

    [Fact]
    public async Task Concurrent_invocations_with_one_token_submit_one_job_and_answer_alike()
    {
        _world.Batch.SubmitDelay = TimeSpan.FromMilliseconds(400);

        var answers = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => Submit())));

        Assert.Single(_world.Batch.Submitted);
        Assert.All(answers, a => Assert.Equal("job-1", a.JobId));
        Assert.Equal(("job-1", RecordStatus.Submitted), (Stored.JobId, Stored.Status));
        Assert.Empty(_world.Batch.Terminated);
        Assert.Empty(_world.StepFunctions.Sent);
    }

    [Fact]
    public async Task Batch_acted_then_its_answer_was_lost_the_job_is_found_by_its_marker_and_adopted()
    {
        var once = 0;
        _world.Batch.FailAfterSubmit = () => Interlocked.Increment(ref once) == 1 ? Error(503, "ServiceUnavailable") : null;

        var answer = await Submit();

        Assert.Equal("job-1", answer.JobId);
        Assert.Single(_world.Batch.Submitted);
        Assert.Equal(("job-1", RecordStatus.Submitted), (Stored.JobId, Stored.Status));
        Assert.Empty(_world.StepFunctions.Sent);
    }

    [Fact]
    public async Task A_lost_answer_whose_job_Batch_does_not_list_yet_waits_for_the_sweep_which_adopts_it()
    {
        _world.Batch.HideSubmitted = true;
        _world.Batch.FailAfterSubmit = () => new AwsTransportException("AWSBatch", "SubmitJob", 1, new TimeoutException("5 s"));

        var answer = await Submit();
        Assert.Null(answer.JobId);
        Assert.Equal((RecordStatus.Submitting, SubmitState.OutcomeUnknown), (Stored.Status, Stored.Submit));
        Assert.Empty(_world.StepFunctions.Sent);

        // A same-token re-invocation looks again; it never submits a second job while the outcome is unknown.
        _world.Batch.FailAfterSubmit = null;
        await Submit();
        Assert.Single(_world.Batch.Submitted);

        var swept = await _world.Reconciler().HandleAsync(Fixtures.Utf8("""{"detail-type":"Scheduled Event","detail":{}}"""));
        Assert.Equal((0, 0), (swept.Failed, swept.Delivered));
        _world.Batch.RevealAll();
        // The next check of the record comes one sweep interval later (its first check was just now).
        await _world.Reconciler(DateTimeOffset.UtcNow + Timing.Default.SweepInterval * 1.2).HandleAsync(Fixtures.Utf8("""{"detail-type":"Scheduled Event","detail":{}}"""));
        Assert.Equal(("job-1", RecordStatus.Submitted), (Stored.JobId, Stored.Status));
        Assert.Empty(_world.StepFunctions.Sent);
    }

    [Fact]
    public async Task A_lost_answer_with_no_job_after_the_grace_fails_the_task_once_and_a_late_job_is_terminated()
    {
        _world.Batch.HideSubmitted = true;
        _world.Batch.FailAfterSubmit = () => Error(500, "ServerException");
        await Submit();

        var later = DateTimeOffset.UtcNow + Timing.Default.SubmitGrace + TimeSpan.FromMinutes(1);
        var swept = await _world.Reconciler(later).HandleAsync(Fixtures.Utf8("""{"detail-type":"Scheduled Event","detail":{}}"""));
        Assert.Equal(1, swept.Failed);
        Assert.Equal(("BatchSync.SubmitOutcomeUnknown", RecordStatus.Failed), (_world.StepFunctions.Sent.Single().Error, Stored.Status));
        await _world.Reconciler(later).HandleAsync(Fixtures.Utf8("""{"detail-type":"Scheduled Event","detail":{}}"""));
        Assert.Equal(1, TerminalAnswers);

        // Batch did create the job after all: its first event finds a record that ended without it.
        _world.Batch.RevealAll();
        var evt = await _world.Events().HandleAsync(FakeWorld.Event("job-1", "RUNNABLE", Marker));
        Assert.Equal("Terminated", evt.Action);
        Assert.Equal([("job-1", TaskDecisions.AbortedReason(Execution))], _world.Batch.Terminated);
        Assert.Equal(1, TerminalAnswers);
    }

    [Fact]
    public async Task A_holder_that_died_leaves_its_lease_to_run_out_then_its_job_is_found_not_resubmitted()
    {
        await Submit();
        // The first invocation submitted, then died before noting the job: the record still holds its lease.
        _world.Store.Records[Key] = Stored with
        {
            JobId = null, JobArn = null, Status = RecordStatus.Submitting, Submit = SubmitState.Leased, LeaseId = "dead", LeaseUntil = DateTimeOffset.UtcNow.AddSeconds(20).ToUnixTimeMilliseconds(),
        };

        var whileHeld = await _world.Submitter(timing: Timing.Default with { HolderWait = TimeSpan.FromMilliseconds(300) }).SubmitAsync(Fixtures.Utf8(Payload));
        Assert.Null(whileHeld.JobId);
        Assert.Contains("another invocation", whileHeld.Note);

        var afterLease = await Submit(DateTimeOffset.UtcNow.AddSeconds(30));
        Assert.Equal("job-1", afterLease.JobId);
        Assert.Single(_world.Batch.Submitted);
        Assert.Equal("job-1", Stored.JobId);
    }

    [Fact]
    public async Task Throttled_past_the_budget_fails_the_invocation_says_why_and_the_retry_submits()
    {
        _world.Batch.SubmitError = Error(429, "TooManyRequestsException");
        var failure = await Assert.ThrowsAsync<TransientFailureException>(() => Submit());
        Assert.Contains("TooManyRequestsException", failure.Message);
        Assert.Equal((SubmitState.NotSent, RecordStatus.Submitting), (Stored.Submit, Stored.Status));
        Assert.Contains("never reached Batch", Stored.Reason);
        Assert.Empty(_world.StepFunctions.Sent);

        _world.Batch.SubmitError = null;
        var answer = await Submit();
        Assert.Equal("job-1", answer.JobId);
        Assert.Single(_world.Batch.Submitted);
    }

    [Fact]
    public async Task A_definite_refusal_fails_the_task_with_the_native_error_once()
    {
        _world.Batch.SubmitError = Error(400, "ClientException");
        var answer = await Submit();
        Assert.Equal("Batch.ClientException", answer.Error);
        Assert.Equal(RecordStatus.Failed, Stored.Status);
        await Submit();
        Assert.Equal(1, TerminalAnswers);
    }

    [Fact]
    public async Task A_job_that_loses_the_attach_race_is_terminated_at_once()
    {
        // The event of another job carrying this task's marker noted that job first.
        _world.Store.BeforeAttach = () => _world.Store.Records[Key] = Stored with { JobId = "job-other", Status = RecordStatus.Submitted };

        var answer = await Submit();

        Assert.Equal("job-other", answer.JobId);
        Assert.Equal([("job-1", TaskDecisions.AbortedReason(Execution))], _world.Batch.Terminated);
        Assert.Equal("job-other", Stored.JobId);
    }

    [Fact]
    public async Task Events_of_a_job_nobody_waits_for_terminate_it_and_its_callbacks_change_nothing()
    {
        await Submit();
        _world.Batch.Jobs["job-9"] = FakeWorld.Detail(FakeWorld.Event("job-9", "RUNNING", Marker, createdAt: Stored.CreatedAt));

        var evt = await _world.Events().HandleAsync(FakeWorld.Event("job-9", "RUNNING", Marker));
        Assert.Equal("Terminated", evt.Action);
        Assert.Equal([("job-9", TaskDecisions.AbortedReason(Execution))], _world.Batch.Terminated);

        var before = Stored;
        var refused = await Assert.ThrowsAsync<JobNotFoundException>(() => _world.Callbacks().HandleAsync(Fixtures.Utf8("""{"JobId":"job-9","Result":{"x":1}}""")));
        Assert.Contains("names job job-1", refused.Message);
        await Assert.ThrowsAsync<JobNotFoundException>(() => _world.Callbacks().HandleAsync(Fixtures.Utf8("""{"JobId":"job-9","Error":"E"}""")));
        Assert.Equal(before, Stored);
        Assert.Empty(_world.StepFunctions.Sent);
    }

    [Fact]
    public async Task Duplicate_terminal_events_at_once_answer_the_task_once()
    {
        await Submit();
        _world.Batch.Jobs["job-1"] = FakeWorld.Detail(FakeWorld.Event("job-1", "SUCCEEDED", Marker));

        var answers = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(() => _world.Events().HandleAsync(FakeWorld.Event("job-1", "SUCCEEDED", Marker)))));

        Assert.Equal(1, answers.Count(a => a.Action == "Succeeded"));
        Assert.Equal(1, TerminalAnswers);
        Assert.Equal(RecordStatus.Succeeded, Stored.Status);
    }

    [Fact]
    public async Task A_lost_acknowledgment_is_never_answered_again()
    {
        await Submit();
        _world.StepFunctions.LoseAcknowledgment = _ => new AwsTransportException("AWSStepFunctions", "SendTaskSuccess", 1, new HttpRequestException("reset"));

        var answer = await _world.Events().HandleAsync(FakeWorld.Event("job-1", "SUCCEEDED", Marker));

        Assert.Equal("Closed", answer.Action);
        Assert.Contains("acknowledgment was lost", Stored.Reason);
        Assert.Equal(1, TerminalAnswers);
        Assert.Equal(0, _world.StepFunctions.SecondAnswers(Token));
        Assert.Equal("SendTaskHeartbeat", _world.StepFunctions.Sent.Last().Operation);
    }

    [Fact]
    public async Task An_answer_that_never_reached_Step_Functions_is_sent_again_after_asking()
    {
        await Submit();
        var tasks = new FailingOnceTasks(_world.StepFunctions);
        var events = new JobEventProcessor(_world.Batch, tasks, _world.Store, FakeWorld.Namespace);

        var answer = await events.HandleAsync(FakeWorld.Event("job-1", "SUCCEEDED", Marker));

        Assert.Equal("Succeeded", answer.Action);
        Assert.Equal(["SendTaskHeartbeat", "SendTaskSuccess"], _world.StepFunctions.Sent.Select(s => s.Operation));
    }

    /// <summary>A 503 before Step Functions did anything (the first terminal call), then the real thing.</summary>
    private sealed class FailingOnceTasks(FakeStepFunctions inner) : IStepFunctionsApi
    {
        private int _calls;
        public Task<TaskReply> SendTaskSuccessAsync(string taskToken, string output, CancellationToken cancellationToken = default) =>
            Interlocked.Increment(ref _calls) == 1
                ? throw new AwsServiceException("AWSStepFunctions", "SendTaskSuccess", HttpStatusCode.ServiceUnavailable, "ServiceUnavailable", null, null)
                : inner.SendTaskSuccessAsync(taskToken, output, cancellationToken);
        public Task<TaskReply> SendTaskFailureAsync(string taskToken, string error, string cause, CancellationToken cancellationToken = default) => inner.SendTaskFailureAsync(taskToken, error, cause, cancellationToken);
        public Task<TaskReply> SendTaskHeartbeatAsync(string taskToken, CancellationToken cancellationToken = default) => inner.SendTaskHeartbeatAsync(taskToken, cancellationToken);
    }

    [Fact]
    public async Task A_crash_between_the_answer_and_the_record_end_is_not_answered_twice_by_the_retry()
    {
        await Submit();
        var failFinish = true;
        _world.Store.BeforeFinish = () =>
        {
            if (failFinish)
            {
                failFinish = false;
                throw new TimeoutException("DynamoDB did not answer");
            }
        };
        await Assert.ThrowsAsync<TimeoutException>(() => _world.Events().HandleAsync(FakeWorld.Event("job-1", "SUCCEEDED", Marker)));
        Assert.Equal(RecordStatus.Submitted, Stored.Status);

        // Lambda retries at once: the claim still holds, nothing is sent.
        var soon = await _world.Events().HandleAsync(FakeWorld.Event("job-1", "SUCCEEDED", Marker));
        Assert.Equal("Ignored", soon.Action);
        // Lambda retries after the claim ran out: a heartbeat finds the task closed (by the first answer), so no second one.
        var later = await _world.Events(DateTimeOffset.UtcNow + Timing.Default.AnswerClaim + TimeSpan.FromSeconds(1)).HandleAsync(FakeWorld.Event("job-1", "SUCCEEDED", Marker));
        Assert.Equal("Closed", later.Action);
        Assert.Equal(1, TerminalAnswers);
        Assert.Equal(RecordStatus.Closed, Stored.Status);
    }

    [Fact]
    public async Task A_claimant_that_died_before_sending_is_replaced_after_its_claim_runs_out()
    {
        await Submit();
        _world.Store.Records[Key] = Stored with { AnswerClaimId = "dead", AnswerClaimUntil = DateTimeOffset.UtcNow.AddSeconds(-1).ToUnixTimeMilliseconds() };

        var answer = await _world.Events().HandleAsync(FakeWorld.Event("job-1", "SUCCEEDED", Marker));

        Assert.Equal("Succeeded", answer.Action);
        Assert.Equal(["SendTaskHeartbeat", "SendTaskSuccess"], _world.StepFunctions.Sent.Select(s => s.Operation));
    }

    [Fact]
    public async Task A_bug_surfaces_as_InternalError_with_its_stack_trace_and_a_dependency_failure_as_TransientFailure()
    {
        var env = new Dictionary<string, string?> { ["AWS_REGION"] = "us-east-1", ["BATCHSYNC_NAMESPACE"] = "ns", ["BATCHSYNC_TABLE"] = "t" };
        var host = new FunctionHost(new AwsSettings(n => env.GetValueOrDefault(n)), TimeProvider.System);
        var previous = Log.Sink;
        var sink = new StringWriter();
        Log.Sink = sink;
        try
        {
            var bug = await Assert.ThrowsAsync<InternalErrorException>(() => host.RunAsync<SubmitJobResponse>("SubmitJob", new MemoryStream([]),
                (_, _) => throw new NullReferenceException("oops")));
            Assert.Equal("BatchSync.InternalError", bug.ErrorName);
            var dependency = await Assert.ThrowsAsync<TransientFailureException>(() => host.RunAsync<SubmitJobResponse>("SubmitJob", new MemoryStream([]),
                (_, _) => throw new AwsTransportException("AWSBatch", "SubmitJob", 4, new TimeoutException())));
            Assert.Equal("BatchSync.TransientFailure", dependency.ErrorName);
        }
        finally
        {
            Log.Sink = previous;
        }
        Assert.Contains(nameof(A_bug_surfaces_as_InternalError_with_its_stack_trace_and_a_dependency_failure_as_TransientFailure), sink.ToString());
    }
}

/// <summary>The in-memory store keeps the same contract as the DynamoDB one (which runs it against moto).</summary>
public class InMemoryStoreContractTests
{
    [Fact]
    public async Task The_fake_store_keeps_the_store_contract()
    {
        var store = new InMemoryRecordStore(new CallLog());
        await StoreContract.LeasesAsync(store);
        await StoreContract.GuardedAttachAsync(store);
        await StoreContract.AnswerClaimsAsync(store);
        await StoreContract.MissingJobsAsync(store);
        await StoreContract.DueByPartAsync(store);
    }
}

public class OrphanFinderTests
{
    private sealed class RefusingListBatch(FakeBatch inner, Exception error) : IBatchApi
    {
        public Task<SubmittedJob> SubmitServiceJobAsync(byte[] requestBody, CancellationToken cancellationToken = default) => throw new NotSupportedException("no service jobs here");
        public Task<BatchJob?> DescribeServiceJobAsync(string jobId, CancellationToken cancellationToken = default) => throw new NotSupportedException("no service jobs here");
        public Task TerminateServiceJobAsync(string jobId, string reason, CancellationToken cancellationToken = default) => throw new NotSupportedException("no service jobs here");
        public Task<JobPage> ListServiceJobsNamedAsync(string jobQueue, string jobName, string? nextToken, CancellationToken cancellationToken = default) => throw new NotSupportedException("no service jobs here");
        public Task<SubmittedJob> SubmitJobAsync(byte[] requestBody, CancellationToken cancellationToken = default) => inner.SubmitJobAsync(requestBody, cancellationToken);
        public Task<IReadOnlyList<BatchJob>> DescribeJobsAsync(IReadOnlyList<string> jobIds, CancellationToken cancellationToken = default) => inner.DescribeJobsAsync(jobIds, cancellationToken);
        public Task TerminateJobAsync(string jobId, string reason, CancellationToken cancellationToken = default) => inner.TerminateJobAsync(jobId, reason, cancellationToken);
        public Task<JobPage> ListJobsNamedAsync(string jobQueue, string jobName, string? nextToken, CancellationToken cancellationToken = default) => throw error;
        public Task<JobPage> ListFailedChildrenAsync(string arrayJobId, int pageSize, string? nextToken, CancellationToken cancellationToken = default) => throw error;
    }

    private static readonly TaskRecord Record = new() { TaskKey = "k", TaskToken = "t", Status = RecordStatus.Submitting, JobName = "j", JobQueue = "missing-queue" };

    [Fact]
    public async Task A_queue_Batch_refuses_to_list_holds_no_job_but_other_failures_are_not_a_not_found()
    {
        var refused = new RefusingListBatch(new FakeBatch(new CallLog()), new AwsServiceException("AWSBatch", "ListJobs", HttpStatusCode.BadRequest, "ClientException", "Job queue missing-queue does not exist", "r"));
        Assert.Empty(await new OrphanFinder(refused, FakeWorld.Namespace).FindAllAsync(Record, CancellationToken.None));
        var throttled = new RefusingListBatch(new FakeBatch(new CallLog()), new AwsServiceException("AWSBatch", "ListJobs", HttpStatusCode.TooManyRequests, "TooManyRequestsException", "slow", "r"));
        await Assert.ThrowsAsync<AwsServiceException>(() => new OrphanFinder(throttled, FakeWorld.Namespace).FindAllAsync(Record, CancellationToken.None));
        var denied = new RefusingListBatch(new FakeBatch(new CallLog()), new AwsServiceException("AWSBatch", "ListJobs", HttpStatusCode.Forbidden, "AccessDeniedException", "no", "r"));
        await Assert.ThrowsAsync<AwsServiceException>(() => new OrphanFinder(denied, FakeWorld.Namespace).FindAllAsync(Record, CancellationToken.None));
    }

    [Fact]
    public async Task The_search_reads_past_jobs_of_the_same_name_until_they_are_older_than_the_record()
    {
        var batch = new FakeBatch(new CallLog()) { KeepSubmitted = true };
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        // 1,500 jobs of one name (a Map reusing its JobName), only one carrying this record's marker.
        for (var i = 0; i < 1500; i++)
        {
            batch.Jobs[$"other-{i}"] = FakeWorld.Detail(FakeWorld.Event($"other-{i}", "RUNNING", TaskKey.Marker(FakeWorld.Namespace, $"key-{i}"), createdAt: now - i));
        }
        batch.Jobs["mine"] = FakeWorld.Detail(FakeWorld.Event("mine", "RUNNING", TaskKey.Marker(FakeWorld.Namespace, "k"), createdAt: now - 10));
        var found = await new OrphanFinder(new PagedBatch(batch), FakeWorld.Namespace).FindAllAsync(Record with { JobQueue = "q", CreatedAt = now - 20 }, CancellationToken.None);
        Assert.Equal("mine", Assert.Single(found).JobId);
    }

    /// <summary>ListJobs as Batch pages it: 100 summaries at a time, newest first, with a nextToken.</summary>
    private sealed class PagedBatch(FakeBatch inner) : IBatchApi
    {
        public Task<SubmittedJob> SubmitServiceJobAsync(byte[] requestBody, CancellationToken cancellationToken = default) => throw new NotSupportedException("no service jobs here");
        public Task<BatchJob?> DescribeServiceJobAsync(string jobId, CancellationToken cancellationToken = default) => throw new NotSupportedException("no service jobs here");
        public Task TerminateServiceJobAsync(string jobId, string reason, CancellationToken cancellationToken = default) => throw new NotSupportedException("no service jobs here");
        public Task<JobPage> ListServiceJobsNamedAsync(string jobQueue, string jobName, string? nextToken, CancellationToken cancellationToken = default) => throw new NotSupportedException("no service jobs here");
        public Task<SubmittedJob> SubmitJobAsync(byte[] requestBody, CancellationToken cancellationToken = default) => inner.SubmitJobAsync(requestBody, cancellationToken);
        public Task<IReadOnlyList<BatchJob>> DescribeJobsAsync(IReadOnlyList<string> jobIds, CancellationToken cancellationToken = default) => inner.DescribeJobsAsync(jobIds, cancellationToken);
        public Task TerminateJobAsync(string jobId, string reason, CancellationToken cancellationToken = default) => inner.TerminateJobAsync(jobId, reason, cancellationToken);
        public async Task<JobPage> ListJobsNamedAsync(string jobQueue, string jobName, string? nextToken, CancellationToken cancellationToken = default)
        {
            var all = (await inner.ListJobsNamedAsync(jobQueue, jobName, null, cancellationToken)).Jobs;
            var skip = int.TryParse(nextToken, out var n) ? n : 0;
            var page = all.Skip(skip).Take(100).ToList();
            return new JobPage(page, skip + 100 < all.Count ? (skip + 100).ToString() : null);
        }
        public Task<JobPage> ListFailedChildrenAsync(string arrayJobId, int pageSize, string? nextToken, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    }
}

/// <summary>Issue 10: each task is checked on its own schedule, thinning out with age.</summary>
public class CheckScheduleTests
{
    private static readonly Timing Timing = Timing.Default; // sweep every 5 min, gaps capped at 60 min
    private static long Min(double minutes) => (long)TimeSpan.FromMinutes(minutes).TotalMilliseconds;

    private static TaskRecord Record(long createdAt, long? deadlineAt = null) =>
        new() { TaskKey = "k", TaskToken = "t", Status = RecordStatus.Submitted, JobId = "j", CreatedAt = createdAt, DeadlineAt = deadlineAt };

    [Fact]
    public void Checks_come_at_1_3_7_15_31_sweep_intervals_then_every_MaxCheckInterval()
    {
        var record = Record(0);
        var checks = new List<long> { TaskDecisions.FirstCheckAt(0, null, Timing) };
        while (checks[^1] < Min(24 * 60))
        {
            checks.Add(TaskDecisions.NextCheckAt(record, DateTimeOffset.FromUnixTimeMilliseconds(checks[^1]), Timing));
        }
        Assert.Equal([Min(5), Min(15), Min(35), Min(75), Min(135), Min(195)], checks.Take(6));
        Assert.All(checks.Zip(checks.Skip(1)).Skip(4), pair => Assert.Equal(Min(60), pair.Second - pair.First));
        // Checks within a job's first hour and first day: what the calls per job are made of.
        Assert.Equal(3, checks.Count(c => c <= Min(60)));
        Assert.Equal(26, checks.Count(c => c <= Min(24 * 60)));
    }

    [Fact]
    public void A_check_comes_right_after_the_callers_deadline_when_that_is_sooner()
    {
        Assert.Equal(Min(2) + 10_000, TaskDecisions.FirstCheckAt(0, Min(2), Timing));
        Assert.Equal(Min(5), TaskDecisions.FirstCheckAt(0, Min(30), Timing));
        var record = Record(0, deadlineAt: Min(50));
        Assert.Equal(Min(50) + 10_000, TaskDecisions.NextCheckAt(record, DateTimeOffset.FromUnixTimeMilliseconds(Min(35)), Timing));
        // A deadline already past adds nothing.
        Assert.Equal(Min(75 + 60), TaskDecisions.NextCheckAt(record, DateTimeOffset.FromUnixTimeMilliseconds(Min(75)), Timing));
    }

    [Fact]
    public void The_intervals_come_from_the_stack_parameters()
    {
        var env = new Dictionary<string, string?> { ["BATCHSYNC_SWEEP_INTERVAL_MINUTES"] = "10", ["BATCHSYNC_MAX_CHECK_INTERVAL_MINUTES"] = "30" };
        var timing = BatchSyncSettings.TimingFrom(n => env.GetValueOrDefault(n));
        Assert.Equal((TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(30)), (timing.SweepInterval, timing.MaxCheckInterval));
        // At 10 minutes the gap would be 20 (age + interval); at 20 it would be 30, the cap.
        Assert.Equal(Min(10 + 20), TaskDecisions.NextCheckAt(Record(0), DateTimeOffset.FromUnixTimeMilliseconds(Min(10)), timing));
        Assert.Equal(Min(20 + 30), TaskDecisions.NextCheckAt(Record(0), DateTimeOffset.FromUnixTimeMilliseconds(Min(20)), timing));
    }

    [Theory]
    [InlineData("\"TimeoutSeconds\":3600", null)]
    [InlineData("\"TimeoutSeconds\":0", "TimeoutSeconds: must be a whole number of seconds from 1 to 99999999")]
    [InlineData("\"TimeoutSeconds\":1.5", "TimeoutSeconds: must be a whole number of seconds from 1 to 99999999")]
    [InlineData("\"TimeoutSeconds\":\"3600\"", "TimeoutSeconds: must be a whole number of seconds from 1 to 99999999 (the state's own TimeoutSeconds), not a string")]
    [InlineData("\"TimeoutSeconds\":100000000", "TimeoutSeconds: must be a whole number")]
    public void TimeoutSeconds_is_checked_like_every_member(string member, string? problem)
    {
        var mapping = Mapping.SubmitRequestMapper.Map(Fixtures.Utf8($$"""{"JobName":"j","JobQueue":"q","JobDefinition":"d",{{member}}}"""));
        if (problem is null)
        {
            Assert.True(mapping.IsValid);
            Assert.Equal(3600, mapping.Request!.TimeoutSeconds);
            Assert.DoesNotContain("TimeoutSeconds", System.Text.Encoding.UTF8.GetString(mapping.Request.Body));
        }
        else
        {
            Assert.Contains(problem, Domain.InputProblem.Describe(mapping.Problems));
        }
    }

    [Fact]
    public async Task A_submitted_task_is_first_due_one_sweep_interval_later_or_after_its_deadline()
    {
        var world = new FakeWorld();
        var now = DateTimeOffset.UtcNow;
        await world.Submitter(now).SubmitAsync(Fixtures.Utf8("""{"JobName":"j","JobQueue":"q","JobDefinition":"d","TaskToken":"tok-1"}"""));
        await world.Submitter(now).SubmitAsync(Fixtures.Utf8("""{"JobName":"j","JobQueue":"q","JobDefinition":"d","TaskToken":"tok-2","TimeoutSeconds":60}"""));
        Assert.Equal(now.ToUnixTimeMilliseconds() + Min(5), world.Store.Records[TaskKey.For("tok-1")].NextCheckAt);
        var withDeadline = world.Store.Records[TaskKey.For("tok-2")];
        Assert.Equal((now.ToUnixTimeMilliseconds() + 60_000, now.ToUnixTimeMilliseconds() + 70_000), (withDeadline.DeadlineAt, withDeadline.NextCheckAt));
    }

    [Fact]
    public async Task A_record_whose_check_fails_never_blocks_the_others()
    {
        var world = new FakeWorld();
        world.AddDueTasks(30);
        var failing = new FailingHeartbeatTasks(world.StepFunctions, "t0");
        var reconciler = new Processing.Reconciler(world.Batch, failing, world.Store, FakeWorld.Namespace, TimeProvider.System);

        var answer = await reconciler.SweepAsync();

        Assert.Equal((30, 29, 1), (answer.Examined, answer.Heartbeats, answer.Errors));
        Assert.All(world.Store.Records.Values, r => Assert.True(r.NextCheckAt > DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), "the failed one is rescheduled too"));
    }

    private sealed class FailingHeartbeatTasks(FakeStepFunctions inner, string token) : Domain.IStepFunctionsApi
    {
        public Task<Domain.TaskReply> SendTaskSuccessAsync(string taskToken, string output, CancellationToken cancellationToken = default) => inner.SendTaskSuccessAsync(taskToken, output, cancellationToken);
        public Task<Domain.TaskReply> SendTaskFailureAsync(string taskToken, string error, string cause, CancellationToken cancellationToken = default) => inner.SendTaskFailureAsync(taskToken, error, cause, cancellationToken);
        public Task<Domain.TaskReply> SendTaskHeartbeatAsync(string taskToken, CancellationToken cancellationToken = default) =>
            taskToken == token ? throw new Aws.AwsServiceException("AWSStepFunctions", "SendTaskHeartbeat", System.Net.HttpStatusCode.BadRequest, "ValidationException", "bad", "r")
                : inner.SendTaskHeartbeatAsync(taskToken, cancellationToken);
    }

    [Fact]
    public async Task More_due_records_than_one_sweep_reaches_are_left_due_and_the_next_sweep_starts_with_them()
    {
        var world = new FakeWorld();
        world.AddDueTasks(40);
        var clock = new StepClock(DateTimeOffset.UtcNow, TimeSpan.FromMilliseconds(100));
        // A budget that runs out part way (the clock moves with every reading).
        var sweep = () => new Processing.Reconciler(world.Batch, world.StepFunctions, world.Store, FakeWorld.Namespace, clock) { SweepBudget = TimeSpan.FromSeconds(2), Concurrency = 1 }.SweepAsync();

        var first = await sweep();
        Assert.InRange(first.Examined, 1, 39);
        // Each sweep takes the longest overdue first and pushes what it checked out: every record is reached, none twice.
        var examined = first.Examined;
        for (var sweeps = 1; examined < 40 && sweeps < 40; sweeps++)
        {
            examined += (await sweep()).Examined;
        }
        Assert.Equal(40, examined);
        Assert.Equal(40, world.StepFunctions.Sent.Count);
        Assert.Equal(40, world.StepFunctions.Sent.Select(s => s.Token).Distinct().Count());
    }
}
