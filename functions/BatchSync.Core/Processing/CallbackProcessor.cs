using BatchSync.Logging;
using BatchSync.Domain;

namespace BatchSync.Processing;

/// <summary>Callback's core: a job's code reports a result, a heartbeat or a failure for the task waiting on it.</summary>
public sealed class CallbackProcessor(IBatchApi batch, IStepFunctionsRouter stepFunctions, IRecordStore store, string ns, TimeProvider? clock = null, Timing? timing = null)
{
    private readonly TaskResponder _responder = new(batch, stepFunctions, store, clock, timing);

    /// <summary>The hub and its tenants: who must give a Callback key (issue 20).</summary>
    public Tenancy? Tenancy { get; init; }

    public async Task<CallbackResponse> HandleAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
    {
        var request = CallbackRequest.Parse(payload);
        var (record, job) = await FindRecordAsync(request.JobId, cancellationToken).ConfigureAwait(false);
        if (record is { JobId: null, IsFinished: false } unattached && job is not null
            && TaskDecisions.AuthorizeCallback(unattached, request.CallbackKey, Tenancy ?? Domain.Tenancy.HubOnly("")) == CallbackAuthorization.Allowed)
        {
            // The job speaks before its submit noted it: note it now, if its record still takes it.
            (_, record) = await store.AttachJobAsync(unattached.TaskKey, job, cancellationToken).ConfigureAwait(false);
        }
        switch (TaskDecisions.OnCallback(request, record, Tenancy))
        {
            case CallbackDecision.Reject reject:
                Log.Warn("Refused {Kind} callback for job {JobId}: {Reason}", request.Kind.ToString(), request.JobId, reject.Error.Message);
                throw reject.Error;
            case CallbackDecision.StoreResult result:
                if (!await store.SetResultAsync(record!.TaskKey, result.ResultJson, cancellationToken).ConfigureAwait(false))
                {
                    throw new TaskAlreadyFinishedException(request.JobId, RecordStatus.Closed);
                }
                Log.Info("Stored a {Bytes}-byte result for job {JobId}", System.Text.Encoding.UTF8.GetByteCount(result.ResultJson), request.JobId);
                return new CallbackResponse(request.JobId, "ResultStored", Waiting: true);
            case CallbackDecision.SendHeartbeat:
                var heartbeat = await _responder.HeartbeatAsync(record!, "callback heartbeat", cancellationToken).ConfigureAwait(false);
                return heartbeat == TaskReply.TaskClosed
                    ? new CallbackResponse(request.JobId, "Heartbeat", Waiting: false, TaskDecisions.TaskClosedReason)
                    : new CallbackResponse(request.JobId, "Heartbeat", Waiting: heartbeat == TaskReply.Accepted,
                        heartbeat == TaskReply.InvalidToken ? "Step Functions refused the task token (InvalidToken)" : null);
            case CallbackDecision.SendFailure failure:
                var failed = await _responder.FailAsync(record!, failure.Error, failure.Cause, $"job reported error {failure.Error}", cancellationToken).ConfigureAwait(false);
                if (!failed.Sent)
                {
                    throw new TaskAlreadyFinishedException(request.JobId, RecordStatus.Closed);
                }
                return new CallbackResponse(request.JobId, failed.Reply == TaskReply.Accepted ? "Failed" : "Closed", Waiting: false, failed.Ending!.Reason);
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
        var job = jobs.FirstOrDefault(j => j.Marker is not null);
        if (job is null || TaskDecisions.OwnerOf(jobId, job.Marker, ns) is not Ownership.Ours ours)
        {
            return (null, null);
        }
        return (await store.GetAsync(ours.TaskKey, cancellationToken).ConfigureAwait(false), job.Identity with { JobId = jobId });
    }
}
