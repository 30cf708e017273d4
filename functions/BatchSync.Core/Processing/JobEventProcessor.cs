using System.Text.Json;
using BatchSync.Logging;
using BatchSync.Mapping;
using BatchSync.Domain;

namespace BatchSync.Processing;

/// <summary>
/// JobStateChange's core: reads the event, asks <see cref="TaskDecisions"/> what it means for the task's record, and
/// carries that out (deliver the native-shaped outcome, remember the job, or nothing).
/// </summary>
public sealed class JobEventProcessor(IBatchApi batch, IStepFunctionsApi stepFunctions, IRecordStore store, string ns, TimeProvider? clock = null, Timing? timing = null, Failures.AnswerSettings? answers = null)
{
    private readonly TaskResponder _responder = new(batch, stepFunctions, store, clock, timing, answers);

    public async Task<JobStateChangeResponse> HandleAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
    {
        JsonDocument doc;
        try
        {
            doc = JsonInput.Parse(payload);
        }
        catch (JsonException e)
        {
            throw new InvalidEventException(JsonInput.NotJson("payload", e));
        }
        using var _ = doc;
        var evt = JobStateEvent.Parse(doc.RootElement, copyDetail: false);

        var taskKey = (TaskDecisions.OwnerOf(evt.JobId, evt.Marker, ns) as Ownership.Ours)?.TaskKey;
        // A final state: claim the answer and read the record in one call (most final events are answered).
        (ClaimOutcome Outcome, TaskRecord? Record)? claim = null;
        TaskRecord? record;
        if (taskKey is not null && evt.IsTerminal)
        {
            var taken = await _responder.ClaimAsync(taskKey, cancellationToken).ConfigureAwait(false);
            if (taken.Outcome == ClaimOutcome.Held)
            {
                Log.Info("Ignored {Status} event for job {JobId}: another invocation is answering the task", evt.Status, evt.JobId);
                return new JobStateChangeResponse("Ignored", evt.JobId, evt.Status, "another invocation is answering the task");
            }
            record = taken.Record;
            claim = taken.Outcome is ClaimOutcome.Claimed or ClaimOutcome.ClaimedAfterExpiredClaim ? taken : null;
        }
        else
        {
            record = taskKey is null ? null : await store.GetAsync(taskKey, cancellationToken).ConfigureAwait(false);
        }
        var decision = TaskDecisions.OnJobEvent(evt, ns, record);
        if (claim is { Record: { } claimedRecord } && decision is not EventDecision.Deliver)
        {
            await store.ReleaseAnswerClaimAsync(claimedRecord.TaskKey, claimedRecord.AnswerClaimId!, cancellationToken).ConfigureAwait(false);
        }
        switch (decision)
        {
            case EventDecision.Ignore ignore:
                Log.Info("Ignored {Status} event for job {JobId}: {Reason}", evt.Status, evt.JobId, ignore.Why);
                return new JobStateChangeResponse("Ignored", evt.JobId, evt.Status, ignore.Why);
            case EventDecision.RetryLater retry:
                Log.Warn("Event {Status} for job {JobId} will be retried: {Reason}", evt.Status, evt.JobId, retry.Why);
                throw new RecordNotFoundException(evt.JobId);
            case EventDecision.Terminate terminate:
                Log.Warn("Terminating job {JobId} ({Status}): {Reason}", evt.JobId, evt.Status, terminate.Why);
                await batch.TerminateJobAsync(evt.JobId, terminate.Reason, cancellationToken).ConfigureAwait(false);
                return new JobStateChangeResponse("Terminated", evt.JobId, evt.Status, terminate.Why);
            case EventDecision.Heartbeat heartbeat:
                if (heartbeat.AttachJobId)
                {
                    var (outcome, after, terminated) = await _responder.AttachOrTerminateAsync(taskKey!, JobOf(evt), cancellationToken).ConfigureAwait(false);
                    if (terminated)
                    {
                        return new JobStateChangeResponse("Terminated", evt.JobId, evt.Status, $"nobody waits for this job ({outcome})");
                    }
                    record = after!;
                }
                var answer = await _responder.HeartbeatAsync(record!, $"job {evt.Status}", cancellationToken).ConfigureAwait(false);
                return answer == TaskReply.TaskClosed
                    ? new JobStateChangeResponse("Terminated", evt.JobId, evt.Status, TaskDecisions.TaskClosedReason)
                    : new JobStateChangeResponse("Waiting", evt.JobId, evt.Status);
            case EventDecision.Deliver deliver:
                return await DeliverAsync(evt, record!, deliver.Succeeded, claim, cancellationToken).ConfigureAwait(false);
            default:
                throw new InvalidOperationException($"Unhandled decision {decision}.");
        }
    }

    private async Task<JobStateChangeResponse> DeliverAsync(JobStateEvent evt, TaskRecord record, bool succeeded, (ClaimOutcome Outcome, TaskRecord? Record)? claim,
        CancellationToken cancellationToken)
    {
        var detail = await CurrentDetailAsync(evt, cancellationToken).ConfigureAwait(false);
        if (record.JobId is null)
        {
            var (outcome, after) = await store.AttachJobAsync(record.TaskKey, JobOf(evt), cancellationToken).ConfigureAwait(false);
            if (TaskDecisions.AfterAttach(outcome, after) is AttachFollowUp.Terminate)
            {
                if (claim is not null && after is { AnswerClaimId: { } claimId })
                {
                    await store.ReleaseAnswerClaimAsync(after.TaskKey, claimId, cancellationToken).ConfigureAwait(false);
                }
                return new JobStateChangeResponse("Ignored", evt.JobId, evt.Status, $"the task waits for another job, or ended ({outcome}); this one has ended too");
            }
            record = after!;
            claim = claim is { } taken ? (taken.Outcome, record) : null;
        }
        var result = await _responder.DeliverAsync(record, detail, succeeded, cancellationToken, claim).ConfigureAwait(false);
        if (!result.Sent)
        {
            return new JobStateChangeResponse("Ignored", evt.JobId, evt.Status, result.NotSentBecause);
        }
        // An array parent within its tolerated failures (ArraySummary) is answered success although it FAILED.
        return new JobStateChangeResponse(result.Reply == TaskReply.Accepted ? (result.Ending!.Status == RecordStatus.Succeeded ? "Succeeded" : "Failed") : "Closed", evt.JobId, evt.Status, result.Ending!.Reason);
    }

    /// <summary>The job's DescribeJobs JobDetail, as the native integration reports it; the event's own detail if Batch has none.</summary>
    private async Task<JsonElement> CurrentDetailAsync(JobStateEvent evt, CancellationToken cancellationToken)
    {
        var described = await batch.DescribeJobsAsync([evt.JobId], cancellationToken).ConfigureAwait(false);
        foreach (var job in described)
        {
            if (job.TryGetProperty("jobId", out var id) && id.GetString() == evt.JobId
                && job.TryGetProperty("status", out var status) && status.GetString() == evt.Status)
            {
                return job;
            }
        }
        return evt.Detail;
    }

    private static SubmittedJob JobOf(JobStateEvent evt)
    {
        string Member(string name) => evt.Detail.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";
        return new SubmittedJob(Member("jobArn"), evt.JobId, Member("jobName"));
    }
}
