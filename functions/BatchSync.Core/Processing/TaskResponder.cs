using System.Text.Json;
using BatchSync.Domain;
using BatchSync.Failures;
using BatchSync.Logging;
using BatchSync.Mapping;

namespace BatchSync.Processing;

/// <summary>What became of a terminal answer: sent (with Step Functions' reply and the record's ending), or not sent and why.</summary>
public sealed record AnswerResult(TaskReply? Reply, RecordEnding? Ending, string? NotSentBecause = null)
{
    public bool Sent => Reply is not null;
}

/// <summary>
/// The actions every processor takes on a task, carried out the same way wherever a decision calls for them: deliver
/// an outcome, heartbeat, fail, or close the record and terminate its job. A terminal answer is sent at most once:
/// the right to send it is claimed on the record first, and a send whose acknowledgment was lost is never repeated
/// blindly (a heartbeat tells whether the task still waits).
/// </summary>
public sealed class TaskResponder(IBatchApi batch, IStepFunctionsRouter stepFunctions, IRecordStore store, TimeProvider? clock = null, Timing? timing = null, AnswerSettings? answers = null)
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private readonly Timing _timing = timing ?? Timing.Default;
    private readonly AnswerSettings _answers = answers ?? AnswerSettings.Native;

    /// <summary>Claims the right to send the task's terminal answer (see <see cref="IRecordStore.TryClaimAnswerAsync"/>).</summary>
    public Task<AnswerClaim> ClaimAsync(string taskKey, CancellationToken cancellationToken)
    {
        var now = _clock.GetUtcNow();
        return store.TryClaimAnswerAsync(taskKey, Guid.NewGuid().ToString("N"), (now + _timing.AnswerClaim).ToUnixTimeMilliseconds(),
            now.ToUnixTimeMilliseconds(), cancellationToken);
    }

    /// <summary>
    /// Gives up a claim that will not be used (the signal turned out not to call for the answer): the one place a claim
    /// is released. A claim not held, or whose record carries no claim, releases nothing.
    /// </summary>
    public async Task ReleaseAsync(AnswerClaim? claim, CancellationToken cancellationToken)
    {
        if (claim is { IsHeld: true, Record: { AnswerClaimId: { } claimId } record })
        {
            await store.ReleaseAnswerClaimAsync(record.TaskKey, claimId, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Sends the native-shaped outcome of a finished job and ends the record accordingly; with <paramref name="claimed"/>,
    /// under a claim the caller took already (its record read in the same call).
    /// </summary>
    public async Task<AnswerResult> DeliverAsync(TaskRecord record, BatchJob job, bool succeeded, CancellationToken cancellationToken,
        AnswerClaim? claimed = null)
    {
        using var correlation = Log.Correlate(record.TaskKey, record.JobId, record.ExecutionArn);
        // Native answers, or what the task opted into (payload member BatchSync, kept on the record as Options).
        var prepared = await TaskAnswers.PrepareAsync(record, job, succeeded, batch, _answers, cancellationToken).ConfigureAwait(false);
        var result = await AnswerAsync(record, prepared.Succeeded,
            current => prepared.Succeeded ? prepared.Output!(current.Result) : null,
            prepared.Error, prepared.Cause, prepared.What, cancellationToken, claimed).ConfigureAwait(false);
        if (result.Reply is { } reply)
        {
            Metrics.JobAnswered(job.Detail, reply == TaskReply.Accepted ? job.Status ?? "UNKNOWN" : reply.ToString());
        }
        return result;
    }

    /// <summary>Fails the task with an error of BatchSync's or the job's and ends the record.</summary>
    public async Task<AnswerResult> FailAsync(TaskRecord record, string error, string cause, string what, CancellationToken cancellationToken)
    {
        using var correlation = Log.Correlate(record.TaskKey, record.JobId, record.ExecutionArn);
        var (sentError, sentCause) = StepFunctionsLimits.ClipFailure(error, cause);
        return await AnswerAsync(record, false, _ => null, sentError, sentCause, what, cancellationToken).ConfigureAwait(false);
    }

    private async Task<AnswerResult> AnswerAsync(TaskRecord record, bool succeeded, Func<TaskRecord, string?> output, string? error, string? cause,
        string what, CancellationToken cancellationToken, AnswerClaim? claimed = null)
    {
        var answerClaim = claimed ?? await ClaimAsync(record.TaskKey, cancellationToken).ConfigureAwait(false);
        var (claim, current) = answerClaim;
        switch (claim)
        {
            case ClaimOutcome.Finished:
                Log.Info("The task of job {JobId} has ended already ({Status}); nothing sent", record.JobId, current?.Status.ToString() ?? "no record");
                return new AnswerResult(null, null, "the task has ended already");
            case ClaimOutcome.Held:
                Log.Info("Another invocation is answering the task of job {JobId}; nothing sent", record.JobId);
                return new AnswerResult(null, null, "another invocation is answering the task");
            case ClaimOutcome.ClaimedAfterExpiredClaim:
                var probe = await stepFunctions.For(current!).SendTaskHeartbeatAsync(current!.TaskToken, cancellationToken).ConfigureAwait(false);
                if (!TaskDecisions.MaySendAfterProbe(probe))
                {
                    return await FinishAsync(current, probe, TaskDecisions.AnswerPresumedTaken(probe, what), cancellationToken).ConfigureAwait(false);
                }
                break;
        }
        var token = current!.TaskToken;
        var text = output(current);
        var tasks = stepFunctions.For(current);
        var mayHaveSent = false;
        while (true)
        {
            TaskReply reply;
            try
            {
                reply = succeeded
                    ? await tasks.SendTaskSuccessAsync(token, text!, cancellationToken).ConfigureAwait(false)
                    : await tasks.SendTaskFailureAsync(token, error!, cause!, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (!mayHaveSent && TaskDecisions.OnCallFailure(e) is CallFailure.NotSent or CallFailure.Refused)
            {
                // Nothing was taken under this claim (throttled, never connected, the spoke's role not had, or refused:
                // KmsAccessDeniedException, KmsInvalidStateException): give it up, so the next attempt need not wait
                // for it to run out. The record stays open; the invocation's retry or the sweep sends again.
                if (e is IServiceCallFailure { ErrorCode: { } code, IsThrottling: false })
                {
                    Log.Warn("Step Functions refused the answer for job {JobId}: {ErrorCode}; the task stays open and is answered again later", current.JobId, code);
                }
                await ReleaseAsync(answerClaim, CancellationToken.None).ConfigureAwait(false);
                throw;
            }
            catch (Exception e) when (TaskDecisions.OnCallFailure(e) == CallFailure.OutcomeUnknown)
            {
                mayHaveSent = true;
                Log.Warn("The acknowledgment of the answer for job {JobId} was lost ({Error}); asking whether the task still waits", current.JobId, e.Message);
                var probe = await tasks.SendTaskHeartbeatAsync(token, cancellationToken).ConfigureAwait(false);
                if (TaskDecisions.MaySendAfterProbe(probe))
                {
                    continue;
                }
                return await FinishAsync(current, probe, TaskDecisions.AnswerPresumedTaken(probe, what), cancellationToken).ConfigureAwait(false);
            }
            return await FinishAsync(current, reply, TaskDecisions.AfterAnswer(reply, succeeded, what), cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<AnswerResult> FinishAsync(TaskRecord record, TaskReply reply, RecordEnding ending, CancellationToken cancellationToken)
    {
        await store.FinishAsync(record.TaskKey, ending, cancellationToken).ConfigureAwait(false);
        if (reply == TaskReply.InvalidToken)
        {
            Log.Warn("Step Functions refused the task token of job {JobId} (InvalidToken); record closed", record.JobId);
        }
        else
        {
            Log.Info("Task of job {JobId}: {Ending} ({Reply})", record.JobId, ending.Reason, reply.ToString());
        }
        return new AnswerResult(reply, ending);
    }

    /// <summary>The SendTaskSuccess output: the native JobDetail (plus <c>Result</c>), within the output limit.</summary>
    public static string NativeOutput(JsonElement jobDetail, string? resultJson) =>
        NativeOutputMapper.ToNativeText(jobDetail, OutputBudget.Output, resultJson);

    /// <summary>The SendTaskFailure cause: the native JobDetail as compact JSON, within the cause limit.</summary>
    public static string NativeCause(JsonElement jobDetail) => NativeOutputMapper.ToNativeText(jobDetail, OutputBudget.Cause);

    /// <summary>Heartbeats the task; when nobody waits any more, terminates the job and closes the record.</summary>
    public async Task<TaskReply> HeartbeatAsync(TaskRecord record, string what, CancellationToken cancellationToken)
    {
        using var correlation = Log.Correlate(record.TaskKey, record.JobId, record.ExecutionArn);
        var reply = await stepFunctions.For(record).SendTaskHeartbeatAsync(record.TaskToken, cancellationToken).ConfigureAwait(false);
        switch (TaskDecisions.AfterHeartbeat(reply))
        {
            case HeartbeatFollowUp.TerminateAndClose:
                await CloseAsync(record, TaskDecisions.TaskGone(what), TaskDecisions.TaskClosedReason, cancellationToken).ConfigureAwait(false);
                break;
            case HeartbeatFollowUp.LogOnly:
                Log.Warn("Heartbeat for job {JobId}: Step Functions replied {Reply}; nothing changed", record.JobId, reply.ToString());
                break;
        }
        return reply;
    }

    /// <summary>
    /// Notes the job on its record (only if the record names no job yet); a job the record does not take (it names
    /// another, or ended without one) has nobody waiting for it and is terminated at once. Returns the attach's outcome,
    /// the record after it, and whether the job was terminated.
    /// </summary>
    public async Task<AttachResult> AttachOrTerminateAsync(string taskKey, SubmittedJob job, CancellationToken cancellationToken)
    {
        var (outcome, record) = await store.AttachJobAsync(taskKey, job, cancellationToken).ConfigureAwait(false);
        if (TaskDecisions.AfterAttach(outcome, record) is not AttachFollowUp.Terminate terminate)
        {
            return new AttachResult(outcome, record, false);
        }
        Log.Warn("Nobody waits for job {JobId} of task {TaskKey} ({Outcome}): terminating it", job.JobId, taskKey, outcome.ToString());
        await batch.TerminateAsync(job.Kind, job.JobId, terminate.Reason, cancellationToken).ConfigureAwait(false);
        return new AttachResult(outcome, record, true);
    }

    /// <summary>
    /// Adopts the job a search by marker found (the oldest), terminating any other job carrying the same marker.
    /// Returns how many jobs were terminated and the attach's result for the adopted one.
    /// </summary>
    public async Task<(int Terminated, AttachResult Attach)> AdoptAsync(TaskRecord record, SearchDecision.Adopt adopt, CancellationToken cancellationToken)
    {
        foreach (var job in adopt.Extra)
        {
            Log.Warn("Job {JobId} also carries the marker of task {TaskKey}: terminating it", job.JobId, record.TaskKey);
            await batch.TerminateAsync(job.Kind, job.JobId, TaskDecisions.OrphanReason(record), cancellationToken).ConfigureAwait(false);
        }
        var attach = await AttachOrTerminateAsync(record.TaskKey, adopt.Job, cancellationToken).ConfigureAwait(false);
        if (!attach.Terminated)
        {
            Log.Info("Found job {JobId} of task {TaskKey} by its marker", adopt.Job.JobId, record.TaskKey);
        }
        return (adopt.Extra.Count + (attach.Terminated ? 1 : 0), attach);
    }

    /// <summary>
    /// Terminates the record's job (if it has one), then closes the record. In this order a failure in between leaves
    /// the record open, so the retried invocation (or the next sweep) terminates again — TerminateJob is idempotent —
    /// rather than forgetting a job nobody waits for.
    /// </summary>
    public async Task CloseAsync(TaskRecord record, RecordEnding ending, string terminateReason, CancellationToken cancellationToken)
    {
        using var correlation = Log.Correlate(record.TaskKey, record.JobId, record.ExecutionArn);
        if (record.JobId is { } jobId)
        {
            await batch.TerminateAsync(record.JobKind, jobId, terminateReason, cancellationToken).ConfigureAwait(false);
        }
        var closed = await store.FinishAsync(record.TaskKey, ending, cancellationToken).ConfigureAwait(false);
        Log.Info("Closed the task of job {JobId}{Already}: {Reason}", record.JobId, closed ? "" : " (record had already ended)", ending.Reason);
    }
}
