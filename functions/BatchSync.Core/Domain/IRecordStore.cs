namespace BatchSync.Domain;

/// <summary>Where task records live (DynamoDB in AWS; an in-memory fake in unit tests).</summary>
public interface IRecordStore
{
    /// <summary>Writes a new record; false when a record with its key exists already.</summary>
    Task<bool> TryCreateAsync(TaskRecord record, CancellationToken cancellationToken = default);

    /// <summary>A strongly consistent read of one record.</summary>
    Task<TaskRecord?> GetAsync(string taskKey, CancellationToken cancellationToken = default);

    /// <summary>The record of the task waiting on a job, found through the job id index.</summary>
    Task<TaskRecord?> FindByJobIdAsync(string jobId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Takes the submit lease of a Submitting record that names no job, if its submit still stands as the caller saw it
    /// (<paramref name="seen"/>; for Leased, only once that lease has run out by <paramref name="now"/>): of several
    /// concurrent callers exactly one wins, and it acts on what it saw. The record becomes Leased by
    /// <paramref name="leaseId"/> until <paramref name="leaseUntil"/>.
    /// </summary>
    Task<bool> TryTakeLeaseAsync(string taskKey, SubmitState seen, string leaseId, long leaseUntil, long now, CancellationToken cancellationToken = default);

    /// <summary>Gives the lease up, saying where the submit stands; false when this lease is no longer held.</summary>
    Task<bool> ReleaseLeaseAsync(string taskKey, string leaseId, SubmitState state, string reason, CancellationToken cancellationToken = default);

    /// <summary>
    /// Notes the job that answers the task, only if the record is open and names no job yet (DynamoDB overwrites unless
    /// a condition forbids it): it becomes Submitted. A record that names a job, or has ended, is left as it is. Returns
    /// what was found (this job already, another one, an ending without one), with the record as it is after the call.
    /// </summary>
    Task<(AttachOutcome Outcome, TaskRecord? Record)> AttachJobAsync(string taskKey, SubmittedJob job, CancellationToken cancellationToken = default);

    /// <summary>
    /// Claims the right to send the task's terminal answer: written before the answer is sent, so that of several
    /// invocations (duplicate events, a racing sweep, a retried invocation) only one sends it. Succeeds only while the
    /// record is open and no live claim exists; returns the record as it is after the claim.
    /// </summary>
    Task<AnswerClaim> TryClaimAnswerAsync(string taskKey, string claimId, long claimUntil, long now, CancellationToken cancellationToken = default);

    /// <summary>Gives up a claim that will not be used (the event turned out not to be the one the task waits for).</summary>
    Task ReleaseAnswerClaimAsync(string taskKey, string claimId, CancellationToken cancellationToken = default);

    /// <summary>Notes (or, with null, clears) when a sweep first found the record's job missing from DescribeJobs.</summary>
    Task SetJobMissingSinceAsync(string taskKey, long? since, CancellationToken cancellationToken = default);

    /// <summary>The unfinished records of one execution (one index query).</summary>
    Task<IReadOnlyList<TaskRecord>> FindOpenByExecutionAsync(string executionArn, CancellationToken cancellationToken = default);

    /// <summary>
    /// Unfinished records due for a check by <paramref name="dueBy"/> (epoch ms), the longest overdue first, at most
    /// <paramref name="limit"/>: keys from the sharded due index (the given shards, or every shard), then the records
    /// themselves read strongly consistently (a record that finished meanwhile is left out).
    /// </summary>
    Task<IReadOnlyList<TaskRecord>> ListDueAsync(long dueBy, int limit, IReadOnlyList<string>? shards = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Sets when each checked record is next due and how many of its checks in a row failed (records that ended
    /// meanwhile are left out of the due index). Throws when a write failed; the records it did not write keep their due
    /// time.
    /// </summary>
    Task RescheduleAsync(IReadOnlyList<ScheduledCheck> checks, CancellationToken cancellationToken = default);

    /// <summary>Stores a callback result; false when the record is already finished.</summary>
    Task<bool> SetResultAsync(string taskKey, string resultJson, CancellationToken cancellationToken = default);

    /// <summary>Ends a record; false when it had already ended (a duplicate or racing answer).</summary>
    Task<bool> FinishAsync(string taskKey, RecordEnding ending, CancellationToken cancellationToken = default);
}
