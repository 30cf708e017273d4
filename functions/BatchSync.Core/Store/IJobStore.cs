using BatchSync.Aws;
using BatchSync.Tasks;

namespace BatchSync.Store;

/// <summary>Where task records live (DynamoDB in AWS; an in-memory fake in unit tests).</summary>
public interface IJobStore
{
    /// <summary>Writes a new record; false when a record with its key exists already.</summary>
    Task<bool> TryCreateAsync(JobRecord record, CancellationToken cancellationToken = default);

    /// <summary>A strongly consistent read of one record.</summary>
    Task<JobRecord?> GetAsync(string taskKey, CancellationToken cancellationToken = default);

    /// <summary>The record of the task waiting on a job, found through the job id index.</summary>
    Task<JobRecord?> FindByJobIdAsync(string jobId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Remembers the job that answers the task (Submitting becomes Submitted). False when the record had already
    /// ended (its execution stopped while the job was being submitted): the job then has nobody waiting for it.
    /// </summary>
    Task<bool> AttachJobAsync(string taskKey, SubmittedJob job, CancellationToken cancellationToken = default);

    /// <summary>The unfinished records of one execution (one index query).</summary>
    Task<IReadOnlyList<JobRecord>> FindOpenByExecutionAsync(string executionArn, CancellationToken cancellationToken = default);

    /// <summary>
    /// One page of unfinished records, oldest first: keys from the sparse open-records index, then the records
    /// themselves read strongly consistently (so a record that finished meanwhile is left out).
    /// </summary>
    Task<(IReadOnlyList<JobRecord> Records, string? NextPage)> ListOpenAsync(string? page, int limit, CancellationToken cancellationToken = default);

    /// <summary>Stores a callback result; false when the record is already finished.</summary>
    Task<bool> SetResultAsync(string taskKey, string resultJson, CancellationToken cancellationToken = default);

    /// <summary>Ends a record; false when it had already ended (a duplicate or racing answer).</summary>
    Task<bool> FinishAsync(string taskKey, RecordEnding ending, CancellationToken cancellationToken = default);
}
