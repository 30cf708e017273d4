using System.Text.Json;
using System.Text.Json.Nodes;
using BatchSync.Aws;
using BatchSync.Failures;
using BatchSync.Logging;
using BatchSync.Mapping;
using BatchSync.Store;
using BatchSync.Tasks;

namespace BatchSync.Processing;

/// <summary>
/// The actions every processor takes on a task, carried out the same way wherever a decision calls for them: deliver
/// an outcome, heartbeat, fail, or close the record and terminate its job.
/// </summary>
public sealed class TaskResponder(IBatchApi batch, ITaskApi tasks, IJobStore store, AnswerSettings? answers = null)
{
    public const string TaskFailedError = AnswerSettings.NativeFailureError;
    private readonly AnswerSettings _answers = answers ?? AnswerSettings.Native;

    /// <summary>Sends the native-shaped outcome of a finished job and ends the record accordingly.</summary>
    public async Task<(TaskAnswer Answer, RecordEnding Ending)> DeliverAsync(JobRecord record, JsonElement jobDetail, bool succeeded, CancellationToken cancellationToken)
    {
        // Native answers, or what the task opted into (payload member BatchSync, kept on the record as Options).
        var prepared = await TaskAnswers.PrepareAsync(record, jobDetail, succeeded, batch, _answers, cancellationToken).ConfigureAwait(false);
        var answer = prepared.Succeeded
            ? await tasks.SendTaskSuccessAsync(record.TaskToken, prepared.Output!(record.Result), cancellationToken).ConfigureAwait(false)
            : await tasks.SendTaskFailureAsync(record.TaskToken, prepared.Error!, prepared.Cause!, cancellationToken).ConfigureAwait(false);
        var ending = TaskDecisions.AfterAnswer(answer, prepared.Succeeded, prepared.What);
        var status = jobDetail.TryGetProperty("status", out var s) ? s.GetString() : null;
        await store.FinishAsync(record.TaskKey, ending, cancellationToken).ConfigureAwait(false);
        if (answer == TaskAnswer.InvalidToken)
        {
            Log.Warn("Step Functions refused the task token of job {JobId} (InvalidToken); record closed", record.JobId);
        }
        else
        {
            Log.Info("Job {JobId} {Status}: task answered {Answer}", record.JobId, status, answer.ToString());
        }
        return (answer, ending);
    }

    /// <summary>The SendTaskSuccess output: written straight from the JobDetail; shrunk only when it would not fit.</summary>
    public static string NativeOutput(JsonElement jobDetail, string? resultJson)
    {
        var bytes = NativeOutputMapper.ToNativeUtf8(jobDetail, resultJson);
        if (bytes.Length <= OutputBudget.MaxOutputBytes)
        {
            return System.Text.Encoding.UTF8.GetString(bytes);
        }
        var native = NativeOutputMapper.ToNative(jobDetail);
        return OutputBudget.FitOutput(resultJson is null ? native : NativeOutputMapper.WithResult(native, JsonNode.Parse(resultJson)));
    }

    /// <summary>The SendTaskFailure cause: the JobDetail as compact JSON; shrunk only when it would not fit.</summary>
    public static string NativeCause(JsonElement jobDetail)
    {
        var text = System.Text.Encoding.UTF8.GetString(NativeOutputMapper.ToNativeUtf8(jobDetail));
        return text.Length <= OutputBudget.MaxCauseChars ? text : OutputBudget.FitCause(NativeOutputMapper.ToNative(jobDetail));
    }

    /// <summary>Heartbeats the task; when nobody waits any more, terminates the job and closes the record.</summary>
    public async Task<TaskAnswer> HeartbeatAsync(JobRecord record, string what, CancellationToken cancellationToken)
    {
        var answer = await tasks.SendTaskHeartbeatAsync(record.TaskToken, cancellationToken).ConfigureAwait(false);
        switch (TaskDecisions.AfterHeartbeat(answer))
        {
            case HeartbeatFollowUp.TerminateAndClose:
                await CloseAsync(record, TaskDecisions.TaskGone(what), TaskDecisions.TaskClosedReason, cancellationToken).ConfigureAwait(false);
                break;
            case HeartbeatFollowUp.LogOnly:
                Log.Warn("Heartbeat for job {JobId} answered {Answer}; nothing changed", record.JobId, answer.ToString());
                break;
        }
        return answer;
    }

    /// <summary>Fails the task with an error of BatchSync's or the job's and ends the record.</summary>
    public async Task<(TaskAnswer Answer, RecordEnding Ending)> FailAsync(JobRecord record, string error, string cause, string what, CancellationToken cancellationToken)
    {
        var answer = await tasks.SendTaskFailureAsync(record.TaskToken, OutputBudget.Clip(error, OutputBudget.MaxErrorChars),
            OutputBudget.Clip(cause, OutputBudget.MaxCauseChars), cancellationToken).ConfigureAwait(false);
        var ending = TaskDecisions.AfterAnswer(answer, succeeded: false, what);
        await store.FinishAsync(record.TaskKey, ending, cancellationToken).ConfigureAwait(false);
        Log.Info("Task of job {JobId} failed with {Error}: {Answer}", record.JobId, error, answer.ToString());
        return (answer, ending);
    }

    /// <summary>
    /// Terminates the record's job (if it has one), then closes the record. In this order a failure in between leaves
    /// the record open, so the retried invocation (or the next sweep) terminates again — TerminateJob is idempotent —
    /// rather than forgetting a job nobody waits for.
    /// </summary>
    public async Task CloseAsync(JobRecord record, RecordEnding ending, string terminateReason, CancellationToken cancellationToken)
    {
        if (record.JobId is { } jobId)
        {
            await batch.TerminateJobAsync(jobId, terminateReason, cancellationToken).ConfigureAwait(false);
        }
        var closed = await store.FinishAsync(record.TaskKey, ending, cancellationToken).ConfigureAwait(false);
        Log.Info("Closed the task of job {JobId}{Already}: {Reason}", record.JobId, closed ? "" : " (record had already ended)", ending.Reason);
    }
}
