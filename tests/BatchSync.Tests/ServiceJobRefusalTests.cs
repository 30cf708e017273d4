using System.Net;
using BatchSync.Aws;
using BatchSync.Domain;

namespace BatchSync.Tests;

/// <summary>
/// A refused SubmitServiceJob may be Batch rejecting the task's clientToken a second time (its job exists): when the
/// search for that job cannot run (throttled), the task is not failed but left to the search's grace and the sweep
/// (found by review).
/// </summary>
[Collection(LogCapture.Collection)]
public class ServiceJobRefusalTests
{
    private const string Token = "AQCEAAAAKgAAAAMAAAAAAAAAArefused-service-token";
    private static readonly string Key = TaskKey.For(Token);
    private readonly FakeWorld _world = new();

    private static AwsServiceException Throttled(string operation) =>
        new("AWSBatch", operation, HttpStatusCode.TooManyRequests, "TooManyRequestsException", "Too Many Requests", "r-1");

    [Fact]
    public async Task A_refusal_whose_search_is_throttled_leaves_the_task_waiting_and_the_sweep_adopts_the_job()
    {
        var payload = Fixtures.Utf8(ServiceJobMappingTests.Service(token: Token));
        // The job is made, but the invocation is told "throttled" (so it believes nothing was sent and says so).
        var once = true;
        _world.Batch.FailAfterSubmit = () => once ? Throttled("SubmitServiceJob") : null;
        await Assert.ThrowsAsync<TransientFailureException>(() => _world.Submitter().SubmitAsync(payload));
        once = false;
        // The retry's SubmitServiceJob is rejected for its clientToken; the search for the job is throttled.
        _world.Batch.DescribeError = Throttled("DescribeServiceJob");

        var answer = await _world.Submitter().SubmitAsync(payload);

        Assert.Null(answer.Error);
        Assert.Contains("the sweep looks for it", answer.Note);
        Assert.Equal(2, _world.Batch.ServiceSubmits.Count);
        var waiting = _world.Store.Records[Key];
        Assert.Equal((RecordStatus.Submitting, SubmitState.OutcomeUnknown), (waiting.Status, waiting.Submit));
        Assert.DoesNotContain(_world.StepFunctions.Sent, a => a.Operation != "SendTaskHeartbeat");

        // Batch answers again: the sweep finds the job by its marker tag and adopts it; still one job.
        _world.Batch.DescribeError = null;
        var swept = await _world.Reconciler(DateTimeOffset.UtcNow.AddMinutes(10)).SweepAsync();
        Assert.Equal(1, swept.Examined);
        var jobId = Assert.Single(_world.Batch.Jobs.Keys);
        Assert.Equal((jobId, RecordStatus.Submitted), (_world.Store.Records[Key].JobId, _world.Store.Records[Key].Status));
        Assert.Empty(_world.Batch.Terminated);
    }
}

/// <summary>
/// A resubmit (the earlier submit judged never sent) refused while Batch does not list the first job yet: the task waits
/// for the search's grace instead of failing while its job runs; a first submit's refusal still fails it at once.
/// </summary>
[Collection(LogCapture.Collection)]
public class ServiceJobResubmitRefusalTests
{
    private const string Token = "AQCEAAAAKgAAAAMAAAAAAAAAAresubmit-service-token";
    private static readonly string Key = TaskKey.For(Token);
    private readonly FakeWorld _world = new();

    [Fact]
    public async Task A_resubmit_refused_while_the_first_job_is_not_listed_leaves_the_task_waiting_and_the_sweep_adopts_it()
    {
        var payload = Fixtures.Utf8(ServiceJobMappingTests.Service(token: Token));
        _world.Batch.HideSubmitted = true;
        var once = true;
        _world.Batch.FailAfterSubmit = () => once
            ? new AwsServiceException("AWSBatch", "SubmitServiceJob", HttpStatusCode.TooManyRequests, "TooManyRequestsException", "Too Many Requests", "r-1")
            : null;
        await Assert.ThrowsAsync<TransientFailureException>(() => _world.Submitter().SubmitAsync(payload));
        once = false;

        var answer = await _world.Submitter().SubmitAsync(payload);

        Assert.Null(answer.Error);
        Assert.Equal((RecordStatus.Submitting, SubmitState.OutcomeUnknown), (_world.Store.Records[Key].Status, _world.Store.Records[Key].Submit));
        Assert.DoesNotContain(_world.StepFunctions.Sent, a => a.Operation == "SendTaskFailure");

        _world.Batch.RevealAll();
        await _world.Reconciler(DateTimeOffset.UtcNow.AddMinutes(10)).SweepAsync();
        var jobId = Assert.Single(_world.Batch.Jobs.Keys);
        Assert.Equal(jobId, _world.Store.Records[Key].JobId);
        Assert.Empty(_world.Batch.Terminated);
    }

    [Fact]
    public async Task A_first_submits_refusal_with_no_job_fails_the_task_at_once_natively()
    {
        _world.Batch.SubmitError = new AwsServiceException("AWSBatch", "SubmitServiceJob", HttpStatusCode.BadRequest, "ClientException", "Job queue sm-queue does not exist.", "r-2");

        var answer = await _world.Submitter().SubmitAsync(Fixtures.Utf8(ServiceJobMappingTests.Service(token: Token)));

        Assert.Equal("Batch.ClientException", answer.Error);
        Assert.Equal(RecordStatus.Failed, _world.Store.Records[Key].Status);
    }
}
