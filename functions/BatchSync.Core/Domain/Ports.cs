using System.Text.Json;
using System.Text.Json.Nodes;

namespace BatchSync.Domain;

// The ports: what the processors need from Batch, Step Functions and CloudWatch Logs, in the domain's words. The
// adapters (BatchSync.Aws) implement them; nothing here knows how a call is made.

public sealed record SubmittedJob(string JobArn, string JobId, string JobName);

/// <summary>One ListJobs entry; an array child's index, its status reason and container outcome when Batch gives them.</summary>
public sealed record JobSummary(string JobId, string JobName, string? Status, long? CreatedAt, int? ArrayIndex = null, string? StatusReason = null, int? ExitCode = null, string? Reason = null);

/// <summary>The Batch operations BatchSync uses.</summary>
public interface IBatchApi
{
    /// <summary>DescribeJobs takes at most this many job ids per call (the Batch API reference).</summary>
    public const int MaxDescribeJobs = 100;

    Task<SubmittedJob> SubmitJobAsync(JsonObject request, CancellationToken cancellationToken = default);
    /// <summary>SubmitJob with a request body already serialized (as SubmitRequestMapper writes it).</summary>
    Task<SubmittedJob> SubmitJobAsync(byte[] requestBody, CancellationToken cancellationToken = default) =>
        SubmitJobAsync(JsonNode.Parse(requestBody)!.AsObject(), cancellationToken);
    /// <summary>JobDetails in wire form for the ids Batch still knows (at most 100 ids per call).</summary>
    Task<IReadOnlyList<JsonElement>> DescribeJobsAsync(IReadOnlyList<string> jobIds, CancellationToken cancellationToken = default);
    Task TerminateJobAsync(string jobId, string reason, CancellationToken cancellationToken = default);
    Task<(IReadOnlyList<JobSummary> Jobs, string? NextToken)> ListJobsAsync(JsonObject request, CancellationToken cancellationToken = default);
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

/// <summary>The Step Functions task-token operations BatchSync uses.</summary>
public interface IStepFunctionsApi
{
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
