using BatchSync.Aws;
using BatchSync.Domain;

namespace BatchSync.Composition;

// Thin stand-ins the processors hold instead of the clients themselves: each makes its client on its first call, so
// a function's constructor creates none and a path pays only for the clients it calls, when it calls them
// (issue 10, item 4; BENCHMARKS.md §1). One client per process even when the sweep calls from several tasks at once;
// a client that could not be made is tried again on the next call (OnFirstUse).

/// <summary>An <see cref="IBatchApi"/> whose client is made on its first call.</summary>
public sealed class LazyBatchApi(Func<IBatchApi> create) : IBatchApi
{
    private readonly OnFirstUse<IBatchApi> _client = new(create);

    public bool IsCreated => _client.IsCreated;

    public Task<SubmittedJob> SubmitJobAsync(byte[] requestBody, CancellationToken cancellationToken = default) =>
        _client.Value.SubmitJobAsync(requestBody, cancellationToken);

    public Task<IReadOnlyList<BatchJob>> DescribeJobsAsync(IReadOnlyList<string> jobIds, CancellationToken cancellationToken = default) =>
        _client.Value.DescribeJobsAsync(jobIds, cancellationToken);

    public Task TerminateJobAsync(string jobId, string reason, CancellationToken cancellationToken = default) =>
        _client.Value.TerminateJobAsync(jobId, reason, cancellationToken);

    public Task<JobPage> ListJobsNamedAsync(string jobQueue, string jobName, string? nextToken, CancellationToken cancellationToken = default) =>
        _client.Value.ListJobsNamedAsync(jobQueue, jobName, nextToken, cancellationToken);

    public Task<JobPage> ListFailedChildrenAsync(string arrayJobId, int pageSize, string? nextToken, CancellationToken cancellationToken = default) =>
        _client.Value.ListFailedChildrenAsync(arrayJobId, pageSize, nextToken, cancellationToken);

    public Task<SubmittedJob> SubmitServiceJobAsync(byte[] requestBody, CancellationToken cancellationToken = default) =>
        _client.Value.SubmitServiceJobAsync(requestBody, cancellationToken);

    public Task<BatchJob?> DescribeServiceJobAsync(string jobId, CancellationToken cancellationToken = default) =>
        _client.Value.DescribeServiceJobAsync(jobId, cancellationToken);

    public Task TerminateServiceJobAsync(string jobId, string reason, CancellationToken cancellationToken = default) =>
        _client.Value.TerminateServiceJobAsync(jobId, reason, cancellationToken);

    public Task<JobPage> ListServiceJobsNamedAsync(string jobQueue, string jobName, string? nextToken, CancellationToken cancellationToken = default) =>
        _client.Value.ListServiceJobsNamedAsync(jobQueue, jobName, nextToken, cancellationToken);
}

/// <summary>An <see cref="IStepFunctionsApi"/> whose client is made on its first call.</summary>
public sealed class LazyStepFunctionsApi(Func<IStepFunctionsApi> create) : IStepFunctionsApi
{
    private readonly OnFirstUse<IStepFunctionsApi> _client = new(create);

    public bool IsCreated => _client.IsCreated;

    public Task<TaskReply> SendTaskSuccessAsync(string taskToken, string output, CancellationToken cancellationToken = default) =>
        _client.Value.SendTaskSuccessAsync(taskToken, output, cancellationToken);

    public Task<TaskReply> SendTaskFailureAsync(string taskToken, string error, string cause, CancellationToken cancellationToken = default) =>
        _client.Value.SendTaskFailureAsync(taskToken, error, cause, cancellationToken);

    public Task<TaskReply> SendTaskHeartbeatAsync(string taskToken, CancellationToken cancellationToken = default) =>
        _client.Value.SendTaskHeartbeatAsync(taskToken, cancellationToken);
}

/// <summary>An <see cref="ILogsApi"/> whose client is made on its first call (only tasks that opted into log tails call it).</summary>
public sealed class LazyLogsApi(Func<ILogsApi> create) : ILogsApi
{
    private readonly OnFirstUse<ILogsApi> _client = new(create);

    public bool IsCreated => _client.IsCreated;

    public Task<IReadOnlyList<string>> GetLastLinesAsync(string logGroupName, string logStreamName, int limit, CancellationToken cancellationToken = default) =>
        _client.Value.GetLastLinesAsync(logGroupName, logStreamName, limit, cancellationToken);
}

/// <summary>An <see cref="IRecordStore"/> whose client (the DynamoDB SDK's, the costliest to make) is made on its first call.</summary>
public sealed class LazyRecordStore(Func<IRecordStore> create) : IRecordStore
{
    private readonly OnFirstUse<IRecordStore> _store = new(create);

    public bool IsCreated => _store.IsCreated;

    public Task<bool> TryCreateAsync(TaskRecord record, CancellationToken cancellationToken = default) =>
        _store.Value.TryCreateAsync(record, cancellationToken);

    public Task<TaskRecord?> GetAsync(string taskKey, CancellationToken cancellationToken = default) =>
        _store.Value.GetAsync(taskKey, cancellationToken);

    public Task<TaskRecord?> FindByJobIdAsync(string jobId, CancellationToken cancellationToken = default) =>
        _store.Value.FindByJobIdAsync(jobId, cancellationToken);

    public Task<bool> TryTakeLeaseAsync(string taskKey, SubmitState seen, string leaseId, long leaseUntil, long now, CancellationToken cancellationToken = default) =>
        _store.Value.TryTakeLeaseAsync(taskKey, seen, leaseId, leaseUntil, now, cancellationToken);

    public Task<bool> ReleaseLeaseAsync(string taskKey, string leaseId, SubmitState state, string reason, CancellationToken cancellationToken = default) =>
        _store.Value.ReleaseLeaseAsync(taskKey, leaseId, state, reason, cancellationToken);

    public Task<(AttachOutcome Outcome, TaskRecord? Record)> AttachJobAsync(string taskKey, SubmittedJob job, CancellationToken cancellationToken = default) =>
        _store.Value.AttachJobAsync(taskKey, job, cancellationToken);

    public Task<AnswerClaim> TryClaimAnswerAsync(string taskKey, string claimId, long claimUntil, long now, CancellationToken cancellationToken = default) =>
        _store.Value.TryClaimAnswerAsync(taskKey, claimId, claimUntil, now, cancellationToken);

    public Task ReleaseAnswerClaimAsync(string taskKey, string claimId, CancellationToken cancellationToken = default) =>
        _store.Value.ReleaseAnswerClaimAsync(taskKey, claimId, cancellationToken);

    public Task SetJobMissingSinceAsync(string taskKey, long? since, CancellationToken cancellationToken = default) =>
        _store.Value.SetJobMissingSinceAsync(taskKey, since, cancellationToken);

    public Task<IReadOnlyList<TaskRecord>> FindOpenByExecutionAsync(string executionArn, CancellationToken cancellationToken = default) =>
        _store.Value.FindOpenByExecutionAsync(executionArn, cancellationToken);

    public Task<IReadOnlyList<TaskRecord>> ListDueAsync(long dueBy, int limit, IReadOnlyList<string>? shards = null, CancellationToken cancellationToken = default) =>
        _store.Value.ListDueAsync(dueBy, limit, shards, cancellationToken);

    public Task RescheduleAsync(IReadOnlyList<ScheduledCheck> checks, CancellationToken cancellationToken = default) =>
        _store.Value.RescheduleAsync(checks, cancellationToken);

    public Task<bool> SetResultAsync(string taskKey, string resultJson, CancellationToken cancellationToken = default) =>
        _store.Value.SetResultAsync(taskKey, resultJson, cancellationToken);

    public Task<bool> FinishAsync(string taskKey, RecordEnding ending, CancellationToken cancellationToken = default) =>
        _store.Value.FinishAsync(taskKey, ending, cancellationToken);
}

/// <summary>An <see cref="IRoleAssumer"/> made on its first AssumeRole: the hub's own tasks never load the STS client.</summary>
public sealed class LazyRoleAssumer(Func<IRoleAssumer> create) : IRoleAssumer
{
    private readonly OnFirstUse<IRoleAssumer> _assumer = new(create);

    public bool IsCreated => _assumer.IsCreated;

    public Task<RoleCredentials> AssumeAsync(string roleArn, string externalId, CancellationToken cancellationToken) =>
        _assumer.Value.AssumeAsync(roleArn, externalId, cancellationToken);
}
