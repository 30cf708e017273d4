using BatchSync.Logging;
using BatchSync.Domain;

namespace BatchSync.Processing;

/// <summary>Callback's core: a job's code reports a result, a heartbeat or a failure for the task waiting on it.</summary>
public sealed class CallbackProcessor(IBatchApi batch, IStepFunctionsApi stepFunctions, IRecordStore store, string ns, TimeProvider? clock = null, Timing? timing = null)
{
    private readonly TaskResponder _responder = new(batch, stepFunctions, store, clock, timing);

    public async Task<CallbackResponse> HandleAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
    {
        var request = CallbackRequest.Parse(payload);
        var (record, job) = await FindRecordAsync(request.JobId, cancellationToken).ConfigureAwait(false);
        if (record is { JobId: null, IsFinished: false } unattached && job is not null)
        {
            // The job speaks before its submit noted it: note it now, if its record still takes it.
            (_, record) = await store.AttachJobAsync(unattached.TaskKey, job, cancellationToken).ConfigureAwait(false);
        }
        switch (TaskDecisions.OnCallback(request, record))
        {
            case CallbackDecision.Reject reject:
                Log.Warn("Refused {Kind} callback for job {JobId}: {Reason}", request.Kind.ToString(), request.JobId, reject.Error.Message);
                throw reject.Error;
            case CallbackDecision.StoreResult store1:
                if (!await store.SetResultAsync(record!.TaskKey, store1.ResultJson, cancellationToken).ConfigureAwait(false))
                {
                    throw new TaskAlreadyFinishedException(request.JobId, RecordStatus.Closed);
                }
                Log.Info("Stored a {Bytes}-byte result for job {JobId}", System.Text.Encoding.UTF8.GetByteCount(store1.ResultJson), request.JobId);
                return new CallbackResponse(request.JobId, "ResultStored", Waiting: true);
            case CallbackDecision.SendHeartbeat:
                var heartbeat = await _responder.HeartbeatAsync(record!, "callback heartbeat", cancellationToken).ConfigureAwait(false);
                return heartbeat == TaskReply.TaskClosed
                    ? new CallbackResponse(request.JobId, "Heartbeat", Waiting: false, TaskDecisions.TaskClosedReason)
                    : new CallbackResponse(request.JobId, "Heartbeat", Waiting: heartbeat == TaskReply.Accepted,
                        heartbeat == TaskReply.InvalidToken ? "Step Functions refused the task token (InvalidToken)" : null);
            case CallbackDecision.SendFailure failure:
                var result = await _responder.FailAsync(record!, failure.Error, failure.Cause, $"job reported error {failure.Error}", cancellationToken).ConfigureAwait(false);
                if (!result.Sent)
                {
                    throw new TaskAlreadyFinishedException(request.JobId, RecordStatus.Closed);
                }
                return new CallbackResponse(request.JobId, result.Reply == TaskReply.Accepted ? "Failed" : "Closed", Waiting: false, result.Ending!.Reason);
            default:
                throw new InvalidOperationException("Unhandled callback decision.");
        }
    }

    /// <summary>
    /// Through the job id index; if the index does not know the job yet (a crash between submit and the record update),
    /// through the marker the job itself carries (then the job's identity comes along, to be noted on the record).
    /// </summary>
    private async Task<(TaskRecord? Record, SubmittedJob? Job)> FindRecordAsync(string jobId, CancellationToken cancellationToken)
    {
        var record = await store.FindByJobIdAsync(jobId, cancellationToken).ConfigureAwait(false);
        if (record is not null || TaskDecisions.IsChildJob(jobId))
        {
            return (record, null);
        }
        var jobs = await batch.DescribeJobsAsync([jobId], cancellationToken).ConfigureAwait(false);
        var detail = jobs.FirstOrDefault(j => JobStateEvent.MarkerOf(j) is not null);
        if (TaskDecisions.OwnerOf(jobId, JobStateEvent.MarkerOf(detail), ns) is not Ownership.Ours ours)
        {
            return (null, null);
        }
        var job = new SubmittedJob(Text(detail, "jobArn"), jobId, Text(detail, "jobName"));
        return (await store.GetAsync(ours.TaskKey, cancellationToken).ConfigureAwait(false), job);
    }

    private static string Text(System.Text.Json.JsonElement detail, string name) =>
        detail.TryGetProperty(name, out var v) && v.ValueKind == System.Text.Json.JsonValueKind.String ? v.GetString()! : "";
}
