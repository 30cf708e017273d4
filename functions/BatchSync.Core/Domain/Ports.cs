namespace BatchSync.Domain;

// The ports: what the processors need from Batch, Step Functions and CloudWatch Logs, in the domain's words. The
// adapters (BatchSync.Aws) implement them; nothing here knows how a call is made.

/// <summary>The Batch operations BatchSync uses.</summary>
public interface IBatchApi
{
    /// <summary>DescribeJobs takes at most this many job ids per call (the Batch API reference).</summary>
    public const int MaxDescribeJobs = 100;

    /// <summary>SubmitJob with the request body SubmitRequestMapper wrote.</summary>
    Task<SubmittedJob> SubmitJobAsync(byte[] requestBody, CancellationToken cancellationToken = default);
    /// <summary>Describes these jobs (at most 100 ids per call): the ones Batch still knows.</summary>
    Task<IReadOnlyList<BatchJob>> DescribeJobsAsync(IReadOnlyList<string> jobIds, CancellationToken cancellationToken = default);
    Task TerminateJobAsync(string jobId, string reason, CancellationToken cancellationToken = default);
    /// <summary>
    /// One page of the jobs of this name in this queue, every status, newest first: where a task's job is looked for
    /// by its marker.
    /// </summary>
    Task<JobPage> ListJobsNamedAsync(string jobQueue, string jobName, string? nextToken, CancellationToken cancellationToken = default);
    /// <summary>One page (up to <paramref name="pageSize"/>) of an array parent's FAILED children.</summary>
    Task<JobPage> ListFailedChildrenAsync(string arrayJobId, int pageSize, string? nextToken, CancellationToken cancellationToken = default);

    // Service jobs (SageMaker Training through Batch): the same four uses, one job per describe.

    /// <summary>SubmitServiceJob with the request body SubmitRequestMapper wrote (its clientToken included).</summary>
    Task<SubmittedJob> SubmitServiceJobAsync(byte[] requestBody, CancellationToken cancellationToken = default);
    /// <summary>DescribeServiceJob (one id per call): null when Batch does not know the job.</summary>
    Task<BatchJob?> DescribeServiceJobAsync(string jobId, CancellationToken cancellationToken = default);
    Task TerminateServiceJobAsync(string jobId, string reason, CancellationToken cancellationToken = default);
    /// <summary>One page of the service jobs of this name in this queue, every status: where a task's job is looked for by its marker.</summary>
    Task<JobPage> ListServiceJobsNamedAsync(string jobQueue, string jobName, string? nextToken, CancellationToken cancellationToken = default);
}

/// <summary>What Step Functions said to a SendTask* call.</summary>
public enum TaskReply
{
    /// <summary>Accepted: the task took the result (or the heartbeat).</summary>
    Accepted,
    /// <summary>TaskTimedOut or TaskDoesNotExist: the task is already closed (timed out, completed, or its execution ended).</summary>
    TaskClosed,
    /// <summary>InvalidToken: the token is not one Step Functions knows.</summary>
    InvalidToken,
}

/// <summary>
/// Where a task's Step Functions calls go: the one seam through which every SendTask* call of a task is made, so that
/// calls can be routed by the task's account and region. Every <see cref="IStepFunctionsApi"/> is one that routes every
/// task to itself.
/// </summary>
public interface IStepFunctionsRouter
{
    /// <summary>The Step Functions client for this task's calls.</summary>
    IStepFunctionsApi For(TaskRecord task);
}

/// <summary>The Step Functions task-token operations BatchSync uses.</summary>
public interface IStepFunctionsApi : IStepFunctionsRouter
{
    /// <summary>One client for every task.</summary>
    IStepFunctionsApi IStepFunctionsRouter.For(TaskRecord task) => this;

    Task<TaskReply> SendTaskSuccessAsync(string taskToken, string output, CancellationToken cancellationToken = default);
    Task<TaskReply> SendTaskFailureAsync(string taskToken, string error, string cause, CancellationToken cancellationToken = default);
    Task<TaskReply> SendTaskHeartbeatAsync(string taskToken, CancellationToken cancellationToken = default);
}

/// <summary>The CloudWatch Logs operation BatchSync uses: the last lines of a log stream.</summary>
public interface ILogsApi
{
    /// <summary>The messages of the stream's last <paramref name="limit"/> events, oldest first.</summary>
    Task<IReadOnlyList<string>> GetLastLinesAsync(string logGroupName, string logStreamName, int limit, CancellationToken cancellationToken = default);
}
