using BatchSync.Domain;
using BatchSync.Logging;
using BatchSync.Mapping;

namespace BatchSync.Processing;

/// <summary>
/// SubmitJob's core. With a task token: write the record, submit the job carrying its record key, attach the job id,
/// and report every failure through the token. Without one (request-response): submit and respond, or throw.
/// </summary>
public sealed class JobSubmitter(IBatchApi batch, IStepFunctionsRouter stepFunctions, IRecordStore store, string ns, TimeProvider clock, Timing? timing = null)
{
    private static readonly TimeSpan HolderPoll = TimeSpan.FromMilliseconds(250);
    private readonly Timing _timing = timing ?? Timing.Default;
    private readonly JobSearch _search = new(batch, store, new TaskResponder(batch, stepFunctions, store, clock, timing), ns, clock, timing ?? Timing.Default);
    private TaskResponder _responder => _search.Responder;

    /// <summary>The job queues and job definitions this stack may use (the template's AllowedJobQueues/AllowedJobDefinitions).</summary>
    public SubmitPermissions Permissions { get; init; } = SubmitPermissions.Everything;

    /// <summary>The hub's account and the tenants it serves (issue 20); by default only the hub's own tasks.</summary>
    public Tenancy? Tenancy { get; init; }

    public async Task<SubmitJobResponse> SubmitAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
    {
        var (direct, relayedFrom) = SubmitEnvelope.Unwrap(payload);
        // The marker carries the record key, which derives from the token: read the payload, then put it in.
        var draft = SubmitRequestMapper.Read(direct);
        var taskKey = draft.TaskToken is { } given ? TaskKey.For(given) : null;
        // Where the task lives decides what is added to its job (the tenant tag, the Callback key): the draft knows
        // its ExecutionArn only once finished, so it is finished with the marker first and read again only for a tenant.
        var mapping = draft.WithMarker(taskKey is null ? null : TaskKey.Marker(ns, taskKey));
        var token = mapping.TaskToken;
        var place = await PlaceOfAsync(mapping.ExecutionArn, relayedFrom, token, taskKey, cancellationToken).ConfigureAwait(false);
        if (place.Closed)
        {
            return new SubmitJobResponse(null, null, mapping.Request?.JobName, Note: "the task is already closed (TaskTimedOut/TaskDoesNotExist); nothing was submitted");
        }
        if (taskKey is not null && mapping.IsValid && AdditionsFor(place, token!, taskKey) is { } additions)
        {
            mapping = SubmitRequestMapper.Read(direct).With(additions);
        }
        var problems = mapping.Problems;
        var notAllowed = mapping.Request is { } valid && mapping.IsValid
            ? Permissions.Check(valid.Body, valid.Kind, valid.ServiceRole)
                ?? (place.Home == TaskHome.Tenant ? _tenancy.PermissionsFor(place.Place!.Account).Check(valid.Body, valid.Kind, valid.ServiceRole) : null)
            : null;
        if (mapping.Request is not { } request || !mapping.IsValid || notAllowed is not null)
        {
            var invalid = (BatchSyncException?)notAllowed ?? new InvalidInputException("SubmitJob input", problems);
            if (token is null)
            {
                throw invalid;
            }
            Log.Warn("Rejected SubmitJob input for task {TaskKey}: {Problems}", taskKey, invalid.Message);
            var rejected = TaskDecisions.RejectedRecord(taskKey!, token, clock.GetUtcNow().ToUnixTimeMilliseconds()) with
            {
                Account = place.RecordAccount,
                Region = place.RecordRegion,
            };
            if (!await store.TryCreateAsync(rejected, cancellationToken).ConfigureAwait(false))
            {
                // The token's record exists: this payload was answered before (or the token belongs to another submit).
                var existing = await store.GetAsync(taskKey!, cancellationToken).ConfigureAwait(false);
                if (existing is null)
                {
                    return new SubmitJobResponse(null, null, null, invalid.ErrorName, invalid.Message);
                }
                if (!TaskDecisions.IsRejectionRecord(existing))
                {
                    return ResponseOf(existing);
                }
            }
            return await FailTaskAsync(rejected, invalid.ErrorName, invalid.Message, cancellationToken).ConfigureAwait(false);
        }
        using var correlation = Log.Correlate(taskKey, jobId: null, request.ExecutionArn);

        if (token is null)
        {
            var job = await SubmitOrThrowAsync(request.Kind, request.Body, cancellationToken).ConfigureAwait(false);
            Log.Info("Submitted job {JobId} ({JobName}) without a task token", job.JobId, job.JobName);
            return new SubmitJobResponse(job.JobArn, job.JobId, job.JobName);
        }

        var leaseId = Guid.NewGuid().ToString("N");
        var now = clock.GetUtcNow();
        long? deadlineAt = request.TimeoutSeconds is { } timeout ? now.ToUnixTimeMilliseconds() + timeout * 1000L : null;
        var created = await store.TryCreateAsync(new TaskRecord
        {
            TaskKey = taskKey!,
            TaskToken = token,
            Status = RecordStatus.Submitting,
            JobName = request.JobName,
            JobQueue = request.JobQueue,
            JobKind = request.Kind,
            ExecutionArn = request.ExecutionArn,
            Account = place.RecordAccount,
            Region = place.RecordRegion,
            StateName = request.StateName,
            Options = request.Options,
            CreatedAt = now.ToUnixTimeMilliseconds(),
            UpdatedAt = now.ToUnixTimeMilliseconds(),
            Submit = SubmitState.Leased,
            LeaseId = leaseId,
            LeaseUntil = (now + _timing.SubmitLease).ToUnixTimeMilliseconds(),
            DeadlineAt = deadlineAt,
            NextCheckAt = TaskDecisions.FirstCheckAt(now.ToUnixTimeMilliseconds(), deadlineAt, _timing),
        }, cancellationToken).ConfigureAwait(false);
        if (created)
        {
            return await SubmitAsHolderAsync(taskKey!, leaseId, request, cancellationToken).ConfigureAwait(false);
        }
        return await OnRetryAsync(taskKey!, leaseId, request, place, cancellationToken).ConfigureAwait(false);
    }

    private Tenancy _tenancy => Tenancy ?? Domain.Tenancy.HubOnly("");

    /// <summary>Where a task lives, as far as SubmitJob has found out: its place and home, or that its task is closed.</summary>
    private readonly record struct PlaceFound(TaskPlace? Place, TaskHome Home, bool Closed = false)
    {
        /// <summary>What the record keeps: the account and region when the task is not the hub's own.</summary>
        public string? RecordAccount => Home == TaskHome.Hub ? null : Place?.Account;
        public string? RecordRegion => Home == TaskHome.Hub ? null : Place?.Region;
    }

    /// <summary>
    /// Where the task lives, and the proof that it does, before anything is written or submitted: a tenant's token must
    /// be accepted by a heartbeat sent as that account's spoke role at its region's endpoint (only the issuing account's
    /// principals can), since Lambda does not tell SubmitJob who invoked it.
    /// </summary>
    private async Task<PlaceFound> PlaceOfAsync(string? executionArn, RelayedFrom? relayedFrom, string? token, string? taskKey, CancellationToken cancellationToken)
    {
        if (Tenancy is not { } tenancy)
        {
            // Not configured (tools, tests of the hub's own flows): every task is the hub's, as before issue 20.
            return new PlaceFound(null, TaskHome.Hub);
        }
        if (relayedFrom is not null && TaskDecisions.OnRelayedSubmit(executionArn, relayedFrom.Account, relayedFrom.Region, tenancy) is { } relayError)
        {
            Log.Warn("Refused a relayed SubmitJob for task {TaskKey}: {ErrorName}", taskKey, relayError.ErrorName);
            throw relayError;
        }
        switch (TaskDecisions.OnSubmitPlace(executionArn, token is not null, tenancy))
        {
            case PlaceDecision.Refuse refuse:
                Log.Warn("Refused SubmitJob for task {TaskKey}: {ErrorName}", taskKey, refuse.Error.ErrorName);
                throw refuse.Error;
            case PlaceDecision.ProveOwnership prove:
                var home = TaskDecisions.HomeOf(prove.Place, tenancy);
                var claimed = new TaskRecord
                {
                    TaskKey = taskKey!, TaskToken = token!, Status = RecordStatus.Submitting,
                    Account = home == TaskHome.Hub ? null : prove.Place.Account, Region = home == TaskHome.Hub ? null : prove.Place.Region,
                };
                var reply = await stepFunctions.For(claimed).SendTaskHeartbeatAsync(token!, cancellationToken).ConfigureAwait(false);
                switch (TaskDecisions.OnOwnershipProbe(reply))
                {
                    case OwnershipProof.Proven:
                        Log.Info("Task {TaskKey} is account {Account}'s in {Region}: its token was accepted there", taskKey, prove.Place.Account, prove.Place.Region);
                        return new PlaceFound(prove.Place, home);
                    case OwnershipProof.TaskClosed:
                        Log.Info("Task {TaskKey} of account {Account} is already closed; nothing submitted", taskKey, prove.Place.Account);
                        return new PlaceFound(prove.Place, home, Closed: true);
                    default:
                        Log.Warn("Task {TaskKey}: the token is not account {Account}'s in {Region} ({Reply}); nothing submitted", taskKey, prove.Place.Account, prove.Place.Region, reply.ToString());
                        throw new OwnershipNotProvenException(prove.Place.Account,
                            $"Step Functions in {prove.Place.Region} answered {reply} to a heartbeat sent as {(home == TaskHome.Tenant ? "its spoke role" : "this account")}");
                }
            case PlaceDecision.ProbeHubOwnership:
                var own = new TaskRecord { TaskKey = taskKey!, TaskToken = token!, Status = RecordStatus.Submitting };
                var answer = await stepFunctions.For(own).SendTaskHeartbeatAsync(token!, cancellationToken).ConfigureAwait(false);
                switch (TaskDecisions.OnOwnershipProbe(answer))
                {
                    case OwnershipProof.Proven:
                        return new PlaceFound(null, TaskHome.Hub);
                    case OwnershipProof.TaskClosed:
                        return new PlaceFound(null, TaskHome.Hub, Closed: true);
                    default:
                        throw new ExecutionArnRequiredException($"the task token is not one of this account's tasks in {tenancy.HubRegion} (Step Functions answered {answer})");
                }
            case PlaceDecision.Proceed proceed:
                return new PlaceFound(proceed.Place, TaskDecisions.HomeOf(proceed.Place, tenancy));
            default:
                return new PlaceFound(null, TaskHome.Hub);
        }
    }

    /// <summary>What goes on the job besides the marker: a tenant's tag and, where delivered, the Callback key (null: the marker only).</summary>
    private JobAdditions? AdditionsFor(PlaceFound place, string token, string taskKey)
    {
        var tenant = place.Home == TaskHome.Tenant ? place.Place!.Account : null;
        var key = TaskDecisions.DeliversCallbackKey(place.Home, _tenancy) ? TaskKey.CallbackKey(token) : null;
        return tenant is null && key is null ? null : new JobAdditions(TaskKey.Marker(ns, taskKey), key, tenant);
    }

    /// <summary>The record existed already: an earlier or concurrent invocation with the same token wrote it.</summary>
    private async Task<SubmitJobResponse> OnRetryAsync(string taskKey, string leaseId, SubmitRequest request, PlaceFound place, CancellationToken cancellationToken)
    {
        var pollsLeft = (int)(_timing.HolderWait / HolderPoll);
        while (true)
        {
            var existing = await store.GetAsync(taskKey, cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"The record of task {taskKey} vanished while SubmitJob was running.");
            if ((existing.Account, existing.Region) != (place.RecordAccount, place.RecordRegion))
            {
                // One token, one place: the record was written for the place first proven; a payload naming another
                // gets nothing of it (its job, tag and key are the first place's).
                throw new OwnershipNotProvenException(place.Place?.Account ?? _tenancy.HubAccount ?? "this account",
                    $"this task's record was written for {existing.Account ?? "the hub's account"} in {existing.Region ?? "the hub's region"}");
            }
            var now = clock.GetUtcNow();
            var leaseUntil = (now + _timing.SubmitLease).ToUnixTimeMilliseconds();
            switch (TaskDecisions.OnSubmitRetry(existing, now))
            {
                case RetryDecision.AnswerAsEnded:
                    Log.Info("SubmitJob retried for task {TaskKey}: the task already ended ({Status})", taskKey, existing.Status.ToString());
                    return ResponseOf(existing);
                case RetryDecision.AnswerWithJob:
                    Log.Info("SubmitJob retried for task {TaskKey}: answering as the first attempt did (job {JobId})", taskKey, existing.JobId);
                    return ResponseOf(existing);
                case RetryDecision.WaitForHolder wait:
                    if (pollsLeft-- <= 0)
                    {
                        Log.Info("SubmitJob for task {TaskKey}: another invocation holds the submit ({LeaseLeftMs} ms left); leaving it to that one",
                            taskKey, (long)wait.LeaseLeft.TotalMilliseconds);
                        return new SubmitJobResponse(null, null, existing.JobName, Note: "another invocation with this task token is submitting the job");
                    }
                    await Task.Delay(HolderPoll, clock, cancellationToken).ConfigureAwait(false);
                    continue;
                case RetryDecision.SubmitAgain:
                    if (!await store.TryTakeLeaseAsync(taskKey, SubmitState.NotSent, leaseId, leaseUntil, now.ToUnixTimeMilliseconds(), cancellationToken).ConfigureAwait(false))
                    {
                        continue; // another invocation took it first: wait for that one
                    }
                    Log.Info("SubmitJob retried for task {TaskKey}: Batch did nothing the last time; submitting", taskKey);
                    return await SubmitAsHolderAsync(taskKey, leaseId, request, cancellationToken, resubmit: true).ConfigureAwait(false);
                case RetryDecision.FindJob find:
                    if (!await store.TryTakeLeaseAsync(taskKey, find.Seen, leaseId, leaseUntil, now.ToUnixTimeMilliseconds(), cancellationToken).ConfigureAwait(false))
                    {
                        continue;
                    }
                    Log.Info("SubmitJob retried for task {TaskKey}: an earlier attempt may have created the job ({Submit}); looking for it", taskKey, find.Seen.ToString());
                    return await FindJobAsHolderAsync(existing, leaseId, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Holding the lease: submit the job, then note it (or say why not).</summary>
    /// <param name="taskKey">The task's record key.</param>
    /// <param name="leaseId">The submit lease this invocation holds.</param>
    /// <param name="request">The Batch request.</param>
    /// <param name="cancellationToken">Ends the submit.</param>
    /// <param name="resubmit">An earlier invocation's submit was judged never sent: for a service job, a refusal may then be
    /// Batch rejecting the clientToken that submit used after all.</param>
    private async Task<SubmitJobResponse> SubmitAsHolderAsync(string taskKey, string leaseId, SubmitRequest request, CancellationToken cancellationToken, bool resubmit = false)
    {
        SubmittedJob submitted;
        try
        {
            submitted = await batch.SubmitAsync(request.Kind, request.Body, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (TaskDecisions.OnCallFailure(e) is { } failure)
        {
            switch (failure)
            {
                case CallFailure.Refused:
                    var refusal = (IServiceCallFailure)e;
                    Log.Warn("Batch refused SubmitJob for task {TaskKey}: {ErrorCode} {RequestId}", taskKey, refusal.ErrorCode, refusal.RequestId);
                    if (request.Kind == JobKind.Service)
                    {
                        // A second request with the task's clientToken is rejected (and how is not documented): the job may exist.
                        var (holder, found, unknown) = await ServiceJobExistsAsync(taskKey, leaseId).ConfigureAwait(false);
                        if (holder is not null)
                        {
                            Log.Warn("Task {TaskKey}'s service job exists already (its clientToken was used); adopting it", taskKey);
                            return await FindJobAsHolderAsync(holder, leaseId, cancellationToken, found).ConfigureAwait(false);
                        }
                        // A resubmit's refusal with no job found yet may be the rejection of a job Batch does not list yet.
                        if (unknown || resubmit)
                        {
                            // Not told: leave it to the search's grace and the sweep rather than fail a task whose job may run.
                            await ReleaseQuietlyAsync(taskKey, leaseId, SubmitState.OutcomeUnknown, unknown ? $"SubmitServiceJob was refused ({refusal.ErrorCode}) and the search for its job failed" : $"a resubmitted SubmitServiceJob was refused ({refusal.ErrorCode}) and its job is not listed (yet)").ConfigureAwait(false);
                            return new SubmitJobResponse(null, null, request.JobName, Note: "the service job's submit was refused and whether its job exists is not known yet; the sweep looks for it");
                        }
                    }
                    var place = TaskPlace.FromExecutionArn(request.ExecutionArn);
                    var home = TaskDecisions.HomeOf(place, _tenancy);
                    return await FailTaskAsync(new TaskRecord
                        {
                            TaskKey = taskKey, TaskToken = request.TaskToken!, Status = RecordStatus.Submitting, JobName = request.JobName,
                            Account = home == TaskHome.Hub ? null : place?.Account, Region = home == TaskHome.Hub ? null : place?.Region,
                        },
                        $"Batch.{refusal.ErrorCode}", refusal.NativeCause!, cancellationToken).ConfigureAwait(false);
                case CallFailure.NotSent:
                    // Nothing was created: say so on the record, so a re-invocation with this token submits again.
                    Log.Warn("SubmitJob for task {TaskKey} never reached Batch: {Error}", taskKey, e.Message);
                    await ReleaseQuietlyAsync(taskKey, leaseId, SubmitState.NotSent, $"SubmitJob never reached Batch: {e.Message}").ConfigureAwait(false);
                    throw new TransientFailureException(e);
                default:
                    Log.Warn("Batch's answer to SubmitJob for task {TaskKey} was lost: {Error}; looking for the job by its marker", taskKey, e.Message);
                    var record = await store.GetAsync(taskKey, CancellationToken.None).ConfigureAwait(false);
                    if (record is null || record.LeaseId != leaseId)
                    {
                        return new SubmitJobResponse(null, null, request.JobName, Note: "the submit's outcome is unknown; another invocation took it over");
                    }
                    return await FindJobAsHolderAsync(record with { Reason = $"SubmitJob's answer was lost: {e.Message}" }, leaseId, cancellationToken).ConfigureAwait(false);
            }
        }
        Log.Info("Submitted job {JobId} ({JobName}) for task {TaskKey}", submitted.JobId, submitted.JobName, taskKey);
        return await AttachAsync(taskKey, submitted, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Holding the lease after an ambiguous outcome: look for the job by its marker now; adopt it, or leave the record
    /// for the sweep to look again (Batch's lists may lag), or fail the task once the grace has passed.
    /// </summary>
    private async Task<SubmitJobResponse> FindJobAsHolderAsync(TaskRecord record, string leaseId, CancellationToken cancellationToken,
        IReadOnlyList<SubmittedJob>? found = null)
    {
        const string Unknown = "submit outcome unknown";
        JobSearchResult searched;
        try
        {
            searched = await _search.RunAsync(record, leaseId, Unknown, cancellationToken, found).ConfigureAwait(false);
        }
        catch (Exception e) when (Aws.DependencyFailures.IsDependencyFailure(e))
        {
            await ReleaseQuietlyAsync(record.TaskKey, leaseId, SubmitState.OutcomeUnknown, record.Reason ?? Unknown).ConfigureAwait(false);
            throw;
        }
        switch (searched)
        {
            case JobSearchResult.Adopted adopted:
                return ResponseOf(adopted.Job, adopted.Attach);
            case JobSearchResult.Waiting wait:
                Log.Warn("SubmitJob's outcome for task {TaskKey} is unknown: {Reason}; the sweep looks again", record.TaskKey, wait.Why);
                return new SubmitJobResponse(null, null, record.JobName, Note: $"the submit's outcome is unknown ({wait.Why}); the sweep looks for the job again");
            case JobSearchResult.Failed fail:
                return await FailTaskAsync(record, fail.Error, fail.Cause, cancellationToken).ConfigureAwait(false);
            default:
                throw new InvalidOperationException("Unhandled search decision.");
        }
    }

    /// <summary>Notes the job on its record; a job the record does not take is terminated at once.</summary>
    private async Task<SubmitJobResponse> AttachAsync(string taskKey, SubmittedJob job, CancellationToken cancellationToken) =>
        ResponseOf(job, await _responder.AttachOrTerminateAsync(taskKey, job, cancellationToken).ConfigureAwait(false));

    private static SubmitJobResponse ResponseOf(SubmittedJob job, AttachResult attach) =>
        SubmitJobResponse.Of(TaskDecisions.StandingAfterAttach(job, attach.Terminated, attach.Record));

    private async Task ReleaseQuietlyAsync(string taskKey, string leaseId, SubmitState state, string reason)
    {
        try
        {
            await store.ReleaseLeaseAsync(taskKey, leaseId, state, reason, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (Aws.DependencyFailures.IsDependencyFailure(e))
        {
            // The lease then runs out by itself and is read as "outcome unknown": the job is looked for, never submitted twice.
            Log.Warn("Could not release the submit lease of task {TaskKey}: {Error}", taskKey, e.Message);
        }
    }

    private static SubmitJobResponse ResponseOf(TaskRecord record) => SubmitJobResponse.Of(TaskDecisions.StandingOf(record));

    /// <summary>
    /// After Batch refused a service job's submit: the record, still leased to this invocation, and the jobs found
    /// carrying its marker, when there are any (an earlier request with the same clientToken made one);
    /// <c>Unknown</c> when the search failed (a dependency throttled or down), so it cannot be told.
    /// </summary>
    private async Task<(TaskRecord? Holder, IReadOnlyList<SubmittedJob>? Found, bool Unknown)> ServiceJobExistsAsync(string taskKey, string leaseId)
    {
        try
        {
            var record = await store.GetAsync(taskKey, CancellationToken.None).ConfigureAwait(false);
            if (record is null || record.LeaseId != leaseId)
            {
                return (null, null, false);
            }
            var found = await _search.FindAsync(record, CancellationToken.None).ConfigureAwait(false);
            return found.Count > 0 ? (record, found, false) : (null, null, false);
        }
        catch (Exception e) when (Aws.DependencyFailures.IsDependencyFailure(e))
        {
            Log.Warn("Could not look for task {TaskKey}'s service job after the refusal: {Error}", taskKey, e.Message);
            return (null, null, true);
        }
    }

    private async Task<SubmittedJob> SubmitOrThrowAsync(JobKind kind, byte[] body, CancellationToken cancellationToken)
    {
        try
        {
            return await batch.SubmitAsync(kind, body, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IServiceCallFailure { ErrorCode: { } code, NativeCause: { } cause })
        {
            // Request-response, as natively: any error answer is the task's error (there is no record to keep it open).
            throw new BatchSubmitException(code, cause);
        }
    }

    /// <summary>Fails the task through the record (so that it is answered once, however often SubmitJob is invoked).</summary>
    private async Task<SubmitJobResponse> FailTaskAsync(TaskRecord record, string error, string cause, CancellationToken cancellationToken)
    {
        var result = await _responder.FailAsync(record, error, cause, $"submit failed: {error}", cancellationToken).ConfigureAwait(false);
        if (result.Reply is { } reply && reply != TaskReply.Accepted)
        {
            Log.Warn("Step Functions did not take the failure {Error} for task {TaskKey}: {Reply}", error, record.TaskKey, reply.ToString());
        }
        var (sentError, sentCause) = StepFunctionsLimits.ClipFailure(error, cause);
        return new SubmitJobResponse(null, null, record.JobName, sentError, sentCause, result.Sent ? null : result.NotSentBecause);
    }
}
