using BatchSync.Aws;
using BatchSync.Logging;
using BatchSync.Store;
using BatchSync.Tasks;

namespace BatchSync.Processing;

/// <summary>Callback's core: a job's code reports a result, a heartbeat or a failure for the task waiting on it.</summary>
public sealed class CallbackProcessor(IBatchApi batch, ITaskApi tasks, IJobStore store, string ns)
{
    private readonly TaskResponder _responder = new(batch, tasks, store);

    public async Task<CallbackAnswer> HandleAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
    {
        var request = CallbackRequest.Parse(payload);
        var record = await FindRecordAsync(request.JobId, cancellationToken).ConfigureAwait(false);
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
                return new CallbackAnswer(request.JobId, "ResultStored", Waiting: true);
            case CallbackDecision.SendHeartbeat:
                var heartbeat = await _responder.HeartbeatAsync(record!, "callback heartbeat", cancellationToken).ConfigureAwait(false);
                return heartbeat == TaskAnswer.TaskClosed
                    ? new CallbackAnswer(request.JobId, "Heartbeat", Waiting: false, TaskDecisions.TaskClosedReason)
                    : new CallbackAnswer(request.JobId, "Heartbeat", Waiting: heartbeat == TaskAnswer.Accepted,
                        heartbeat == TaskAnswer.InvalidToken ? "Step Functions refused the task token (InvalidToken)" : null);
            case CallbackDecision.SendFailure failure:
                var (answer, ending) = await _responder.FailAsync(record!, failure.Error, failure.Cause, $"job reported error {failure.Error}", cancellationToken).ConfigureAwait(false);
                return new CallbackAnswer(request.JobId, answer == TaskAnswer.Accepted ? "Failed" : "Closed", Waiting: false, ending.Reason);
            default:
                throw new InvalidOperationException("Unhandled callback decision.");
        }
    }

    /// <summary>
    /// Through the job id index; if the index does not know the job yet (a crash between submit and the record update),
    /// through the marker the job itself carries.
    /// </summary>
    private async Task<JobRecord?> FindRecordAsync(string jobId, CancellationToken cancellationToken)
    {
        var record = await store.FindByJobIdAsync(jobId, cancellationToken).ConfigureAwait(false);
        if (record is not null || jobId.Contains(':') || jobId.Contains('#'))
        {
            return record;
        }
        var jobs = await batch.DescribeJobsAsync([jobId], cancellationToken).ConfigureAwait(false);
        var marker = jobs.Select(JobStateEvent.MarkerOf).FirstOrDefault(m => m is not null);
        return TaskKey.ParseMarker(marker) is { } parsed && parsed.Namespace == ns
            ? await store.GetAsync(parsed.Key, cancellationToken).ConfigureAwait(false)
            : null;
    }
}
