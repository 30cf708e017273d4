using System.Text.Json;
using System.Text.Json.Nodes;
using BatchSync.Aws;
using BatchSync.Logging;
using BatchSync.Mapping;
using BatchSync.Store;
using BatchSync.Tasks;

namespace BatchSync.Processing;

/// <summary>
/// JobStateChange's core: reads the event, asks <see cref="TaskDecisions"/> what it means for the task's record, and
/// carries that out (deliver the native-shaped outcome, remember the job, or nothing).
/// </summary>
public sealed class JobEventProcessor(IBatchApi batch, ITaskApi tasks, IJobStore store, string ns)
{
    public const string TaskFailedError = "States.TaskFailed";

    public async Task<EventAnswer> HandleAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
    {
        JobStateEvent evt;
        try
        {
            using var doc = JsonDocument.Parse(payload, new JsonDocumentOptions { MaxDepth = 256 });
            evt = JobStateEvent.Parse(doc.RootElement);
        }
        catch (JsonException e)
        {
            throw new InvalidEventException($"the payload is not valid JSON ({e.Message.Split(". ")[0]})");
        }

        var taskKey = TaskKey.ParseMarker(evt.Marker) is { } marker && marker.Namespace == ns && !evt.IsChildJob ? marker.Key : null;
        var record = taskKey is null ? null : await store.GetAsync(taskKey, cancellationToken).ConfigureAwait(false);
        var decision = TaskDecisions.OnJobEvent(evt, ns, record);
        switch (decision)
        {
            case EventDecision.Ignore ignore:
                Log.Info("Ignored {Status} event for job {JobId}: {Reason}", evt.Status, evt.JobId, ignore.Why);
                return new EventAnswer("Ignored", evt.JobId, evt.Status, ignore.Why);
            case EventDecision.RetryLater retry:
                Log.Warn("Event {Status} for job {JobId} will be retried: {Reason}", evt.Status, evt.JobId, retry.Why);
                throw new RecordNotFoundException(evt.JobId);
            case EventDecision.Wait wait:
                if (wait.AttachJobId)
                {
                    await store.AttachJobAsync(taskKey!, JobOf(evt), cancellationToken).ConfigureAwait(false);
                }
                return new EventAnswer("Waiting", evt.JobId, evt.Status);
            case EventDecision.Deliver deliver:
                return await DeliverAsync(evt, record!, deliver.Succeeded, cancellationToken).ConfigureAwait(false);
            default:
                throw new InvalidOperationException($"Unhandled decision {decision}.");
        }
    }

    private async Task<EventAnswer> DeliverAsync(JobStateEvent evt, JobRecord record, bool succeeded, CancellationToken cancellationToken)
    {
        var detail = await CurrentDetailAsync(evt, cancellationToken).ConfigureAwait(false);
        var native = NativeOutputMapper.ToNative(detail);
        TaskAnswer answer;
        if (succeeded)
        {
            if (record.Result is { } result)
            {
                native = NativeOutputMapper.WithResult(native, JsonNode.Parse(result));
            }
            answer = await tasks.SendTaskSuccessAsync(record.TaskToken, OutputBudget.FitOutput(native), cancellationToken).ConfigureAwait(false);
        }
        else
        {
            answer = await tasks.SendTaskFailureAsync(record.TaskToken, TaskFailedError, OutputBudget.FitCause(native), cancellationToken).ConfigureAwait(false);
        }
        var ending = TaskDecisions.AfterAnswer(answer, succeeded, $"job {evt.Status}");
        if (record.JobId is null)
        {
            await store.AttachJobAsync(record.TaskKey, JobOf(evt), cancellationToken).ConfigureAwait(false);
        }
        var changed = await store.FinishAsync(record.TaskKey, ending, cancellationToken).ConfigureAwait(false);
        if (answer == TaskAnswer.InvalidToken)
        {
            Log.Warn("Step Functions refused the task token of job {JobId} (InvalidToken); record closed", evt.JobId);
        }
        else
        {
            Log.Info("Job {JobId} {Status}: task answered {Answer}{Duplicate}", evt.JobId, evt.Status, answer.ToString(), changed ? "" : " (record had already ended)");
        }
        return new EventAnswer(answer == TaskAnswer.Accepted ? (succeeded ? "Succeeded" : "Failed") : "Closed", evt.JobId, evt.Status, ending.Reason);
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
