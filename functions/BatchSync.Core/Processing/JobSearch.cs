using BatchSync.Domain;

namespace BatchSync.Processing;

/// <summary>What a search for a record's job by its marker came to (the caller answers a failure its own way).</summary>
public abstract record JobSearchResult
{
    private JobSearchResult() { }

    /// <summary>The oldest job found was adopted (<see cref="Attach"/>: what its attach found); <see cref="Terminated"/> jobs were terminated.</summary>
    public sealed record Adopted(SubmittedJob Job, int Terminated, AttachResult Attach) : JobSearchResult;

    /// <summary>No job yet: the lease was released as "outcome unknown", for the sweep to look again.</summary>
    public sealed record Waiting(string Why) : JobSearchResult;

    /// <summary>No job within the grace: the task is to fail with this error.</summary>
    public sealed record Failed(string Error, string Cause) : JobSearchResult;
}

/// <summary>A guarded attach's outcome, the record after it, and whether the job was terminated (nobody waits for it).</summary>
public sealed record AttachResult(AttachOutcome Outcome, TaskRecord? Record, bool Terminated);

/// <summary>
/// The find-the-job flow, written once for SubmitJob (after an ambiguous submit) and the sweep (a submit that never
/// noted its job): holding the submit lease, look for the record's job by its marker (<see cref="OrphanFinder"/>), and
/// adopt it (terminating any second one), or release the lease as "outcome unknown", or say the task must fail
/// (<see cref="TaskDecisions.OnJobSearch"/>).
/// </summary>
public sealed class JobSearch(IBatchApi batch, IRecordStore store, TaskResponder responder, string ns, TimeProvider clock, Timing timing)
{
    private readonly OrphanFinder _finder = new(batch, ns);

    /// <summary>Every job carrying the record's marker, oldest first (normally one): the search's look, without its decision.</summary>
    public Task<IReadOnlyList<SubmittedJob>> FindAsync(TaskRecord record, CancellationToken cancellationToken) => _finder.FindAllAsync(record, cancellationToken);

    /// <summary>The responder the search adopts and answers through (its callers share it).</summary>
    public TaskResponder Responder => responder;

    /// <param name="record">The record whose job is looked for; the caller holds its submit lease.</param>
    /// <param name="leaseId">The lease the caller holds.</param>
    /// <param name="waitingReason">The reason left on the record when there is no job yet and none on it (null: the decision's).</param>
    /// <param name="cancellationToken">Ends the search.</param>
    /// <param name="found">The jobs carrying the record's marker, when the caller has just looked (null: look now).</param>
    public async Task<JobSearchResult> RunAsync(TaskRecord record, string leaseId, string? waitingReason, CancellationToken cancellationToken,
        IReadOnlyList<SubmittedJob>? found = null)
    {
        found ??= await FindAsync(record, cancellationToken).ConfigureAwait(false);
        switch (TaskDecisions.OnJobSearch(record, found, clock.GetUtcNow(), timing))
        {
            case SearchDecision.Adopt adopt:
                var (terminated, attach) = await responder.AdoptAsync(record, adopt, cancellationToken).ConfigureAwait(false);
                return new JobSearchResult.Adopted(adopt.Job, terminated, attach);
            case SearchDecision.KeepWaiting wait:
                await store.ReleaseLeaseAsync(record.TaskKey, leaseId, SubmitState.OutcomeUnknown, record.Reason ?? waitingReason ?? wait.Why, cancellationToken).ConfigureAwait(false);
                return new JobSearchResult.Waiting(wait.Why);
            case SearchDecision.FailTask fail:
                return new JobSearchResult.Failed(fail.Error, fail.Cause);
            default:
                throw new InvalidOperationException("Unhandled search decision.");
        }
    }
}
