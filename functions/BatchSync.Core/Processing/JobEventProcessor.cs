using System.Text.Json;
using BatchSync.Domain;
using BatchSync.Logging;

namespace BatchSync.Processing;

/// <summary>
/// JobStateChange's core: reads the event, asks <see cref="TaskDecisions"/> what it means for the task's record, and
/// carries that out (deliver the native-shaped outcome, remember the job, or nothing).
/// </summary>
public sealed class JobEventProcessor(IBatchApi batch, IStepFunctionsRouter stepFunctions, IRecordStore store, string ns, TimeProvider? clock = null, Timing? timing = null, Failures.AnswerSettings? answers = null)
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

        // A container job's event names its task by the marker; a service job's carries no tags: the record naming the job
        // is looked up, and failing that, a running job's marker is read from Batch (an orphan of ours is terminated).
        TaskRecord? named = null;
        if (evt.Kind == JobKind.Service)
        {
            named = await store.FindByJobIdAsync(evt.JobId, cancellationToken).ConfigureAwait(false);
            if (named is null && !evt.IsTerminal && await batch.DescribeServiceJobAsync(evt.JobId, cancellationToken).ConfigureAwait(false) is { Marker: { } marker })
            {
                evt = evt with { Marker = marker };
            }
        }
        var taskKey = named?.TaskKey ?? (TaskDecisions.OwnerOf(evt.JobId, evt.Marker, ns) as Ownership.Ours)?.TaskKey;
        // A final state: claim the answer and read the record in one call (most final events are answered).
        var taken = taskKey is not null && evt.IsTerminal ? await _responder.ClaimAsync(taskKey, cancellationToken).ConfigureAwait(false) : null;
        if (taken is { Outcome: ClaimOutcome.Held })
        {
            Log.Info("Ignored {Status} event for job {JobId}: another invocation is answering the task", evt.Status, evt.JobId);
            return new JobStateChangeResponse("Ignored", evt.JobId, evt.Status, "another invocation is answering the task");
        }
        var record = taken is not null ? taken.Record
            : named ?? (taskKey is null ? null : await store.GetAsync(taskKey, cancellationToken).ConfigureAwait(false));
        var claim = taken is { IsHeld: true } ? taken : null;
        var decision = TaskDecisions.OnJobEvent(evt, ns, record);
        if (decision is not EventDecision.Deliver)
        {
            await _responder.ReleaseAsync(claim, cancellationToken).ConfigureAwait(false);
        }
        return decision switch
        {
            EventDecision.Ignore ignore => Ignored(evt, ignore.Why),
            EventDecision.RetryLater retry => RetryLater(evt, retry.Why),
            EventDecision.Terminate terminate => await TerminateAsync(evt, terminate, cancellationToken).ConfigureAwait(false),
            EventDecision.Heartbeat heartbeat => await HeartbeatAsync(evt, taskKey!, record!, heartbeat.AttachJobId, cancellationToken).ConfigureAwait(false),
            EventDecision.Deliver deliver => await DeliverAsync(evt, record!, deliver.Succeeded, claim, cancellationToken).ConfigureAwait(false),
            _ => throw new InvalidOperationException($"Unhandled decision {decision}."),
        };
    }

    private static JobStateChangeResponse Ignored(JobStateEvent evt, string why)
    {
        Log.Info("Ignored {Status} event for job {JobId}: {Reason}", evt.Status, evt.JobId, why);
        return new JobStateChangeResponse("Ignored", evt.JobId, evt.Status, why);
    }

    private static JobStateChangeResponse RetryLater(JobStateEvent evt, string why)
    {
        Log.Warn("Event {Status} for job {JobId} will be retried: {Reason}", evt.Status, evt.JobId, why);
        throw new RecordNotFoundException(evt.JobId);
    }

    private async Task<JobStateChangeResponse> TerminateAsync(JobStateEvent evt, EventDecision.Terminate terminate, CancellationToken cancellationToken)
    {
        Log.Warn("Terminating job {JobId} ({Status}): {Reason}", evt.JobId, evt.Status, terminate.Why);
        await batch.TerminateAsync(evt.Kind, evt.JobId, terminate.Reason, cancellationToken).ConfigureAwait(false);
        return new JobStateChangeResponse("Terminated", evt.JobId, evt.Status, terminate.Why);
    }

    /// <summary>The job is on its way: note it if the record lacks it (or terminate it if nobody waits), then heartbeat.</summary>
    private async Task<JobStateChangeResponse> HeartbeatAsync(JobStateEvent evt, string taskKey, TaskRecord record, bool attach, CancellationToken cancellationToken)
    {
        if (attach)
        {
            var attached = await _responder.AttachOrTerminateAsync(taskKey, evt.Job.Identity, cancellationToken).ConfigureAwait(false);
            if (attached.Terminated)
            {
                return new JobStateChangeResponse("Terminated", evt.JobId, evt.Status, $"nobody waits for this job ({attached.Outcome})");
            }
            record = attached.Record!;
        }
        var reply = await _responder.HeartbeatAsync(record, $"job {evt.Status}", cancellationToken).ConfigureAwait(false);
        return reply == TaskReply.TaskClosed
            ? new JobStateChangeResponse("Terminated", evt.JobId, evt.Status, TaskDecisions.TaskClosedReason)
            : new JobStateChangeResponse("Waiting", evt.JobId, evt.Status);
    }

    private async Task<JobStateChangeResponse> DeliverAsync(JobStateEvent evt, TaskRecord record, bool succeeded, AnswerClaim? claim,
        CancellationToken cancellationToken)
    {
        var job = await CurrentJobAsync(evt, cancellationToken).ConfigureAwait(false);
        if (record.JobId is null)
        {
            var (outcome, after) = await store.AttachJobAsync(record.TaskKey, evt.Job.Identity, cancellationToken).ConfigureAwait(false);
            // The claim now stands on the record as the attach left it.
            claim = claim is null ? null : claim with { Record = after };
            if (TaskDecisions.AfterAttach(outcome, after) is AttachFollowUp.Terminate)
            {
                await _responder.ReleaseAsync(claim, cancellationToken).ConfigureAwait(false);
                return new JobStateChangeResponse("Ignored", evt.JobId, evt.Status, $"the task waits for another job, or ended ({outcome}); this one has ended too");
            }
            record = after!;
        }
        var result = await _responder.DeliverAsync(record, job, succeeded, cancellationToken, claim).ConfigureAwait(false);
        if (!result.Sent)
        {
            return new JobStateChangeResponse("Ignored", evt.JobId, evt.Status, result.NotSentBecause);
        }
        // An array parent within its tolerated failures (ArraySummary) is answered success although it FAILED.
        return new JobStateChangeResponse(result.Reply == TaskReply.Accepted ? (result.Ending!.Status == RecordStatus.Succeeded ? "Succeeded" : "Failed") : "Closed", evt.JobId, evt.Status, result.Ending!.Reason);
    }

    /// <summary>The job as DescribeJobs (DescribeServiceJob) reports it, as the native integration does; the event's own detail if Batch has none.</summary>
    private async Task<BatchJob> CurrentJobAsync(JobStateEvent evt, CancellationToken cancellationToken)
    {
        var described = await batch.DescribeAsync(evt.Kind, [evt.JobId], cancellationToken).ConfigureAwait(false);
        return described.FirstOrDefault(job => job.JobId == evt.JobId && job.Status == evt.Status) ?? evt.Job;
    }
}
