using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using BatchSync.Aws;
using BatchSync.Mapping;
using BatchSync.Store;
using BatchSync.Tasks;

namespace BatchSync.Tests;

/// <summary>Everything the fakes were asked, in order, so tests can check what happened and in which order.</summary>
public sealed class CallLog
{
    public List<string> Calls { get; } = [];
    public void Add(string call) { lock (Calls) { Calls.Add(call); } }
}

public sealed class FakeBatch(CallLog log) : IBatchApi
{
    public List<JsonObject> Submitted { get; } = [];
    public Dictionary<string, JsonElement> Jobs { get; } = [];
    public Exception? SubmitError { get; set; }
    public Exception? DescribeError { get; set; }
    public List<(string JobId, string Reason)> Terminated { get; } = [];

    public Task<SubmittedJob> SubmitJobAsync(byte[] requestBody, CancellationToken cancellationToken = default) =>
        SubmitJobAsync(JsonNode.Parse(requestBody)!.AsObject(), cancellationToken);

    public Task<SubmittedJob> SubmitJobAsync(JsonObject request, CancellationToken cancellationToken = default)
    {
        log.Add("Batch.SubmitJob");
        if (SubmitError is not null)
        {
            throw SubmitError;
        }
        Submitted.Add((JsonObject)request.DeepClone());
        var id = $"job-{Submitted.Count}";
        return Task.FromResult(new SubmittedJob($"arn:aws:batch:us-east-1:123456789012:job/{id}", id, (string)request["jobName"]!));
    }

    public Task<IReadOnlyList<JsonElement>> DescribeJobsAsync(IReadOnlyList<string> jobIds, CancellationToken cancellationToken = default)
    {
        log.Add("Batch.DescribeJobs");
        if (DescribeError is not null)
        {
            throw DescribeError;
        }
        return Task.FromResult<IReadOnlyList<JsonElement>>(jobIds.Where(Jobs.ContainsKey).Select(id => Jobs[id]).ToList());
    }

    public Task TerminateJobAsync(string jobId, string reason, CancellationToken cancellationToken = default)
    {
        log.Add("Batch.TerminateJob");
        Terminated.Add((jobId, reason));
        return Task.CompletedTask;
    }

    public Task<(IReadOnlyList<JobSummary> Jobs, string? NextToken)> ListJobsAsync(JsonObject request, CancellationToken cancellationToken = default)
    {
        log.Add("Batch.ListJobs");
        var name = (string?)request["filters"]?[0]?["values"]?[0];
        var jobs = Jobs.Values
            .Where(j => name is null || j.GetProperty("jobName").GetString() == name)
            .Select(j => new JobSummary(j.GetProperty("jobId").GetString()!, j.GetProperty("jobName").GetString()!, j.GetProperty("status").GetString(), null))
            .ToList();
        return Task.FromResult<(IReadOnlyList<JobSummary>, string?)>((jobs, null));
    }
}

public sealed record SentAnswer(string Operation, string Token, string? Output, string? Error, string? Cause);

public sealed class FakeTasks(CallLog log) : ITaskApi
{
    public List<SentAnswer> Sent { get; } = [];
    public TaskAnswer Answer { get; set; } = TaskAnswer.Accepted;
    public Exception? Error { get; set; }

    public Task<TaskAnswer> SendTaskSuccessAsync(string taskToken, string output, CancellationToken cancellationToken = default) =>
        Record(new SentAnswer("SendTaskSuccess", taskToken, output, null, null));

    public Task<TaskAnswer> SendTaskFailureAsync(string taskToken, string error, string cause, CancellationToken cancellationToken = default) =>
        Record(new SentAnswer("SendTaskFailure", taskToken, null, error, cause));

    public Task<TaskAnswer> SendTaskHeartbeatAsync(string taskToken, CancellationToken cancellationToken = default) =>
        Record(new SentAnswer("SendTaskHeartbeat", taskToken, null, null, null));

    private Task<TaskAnswer> Record(SentAnswer answer)
    {
        log.Add($"StepFunctions.{answer.Operation}");
        if (Error is not null)
        {
            throw Error;
        }
        Sent.Add(answer);
        return Task.FromResult(Answer);
    }
}

/// <summary>An in-memory <see cref="IJobStore"/> with the same conditions as the DynamoDB one.</summary>
public sealed class InMemoryJobStore(CallLog log) : IJobStore
{
    public Dictionary<string, JobRecord> Records { get; } = [];

    /// <summary>Runs at the start of AttachJobAsync, to play a racing writer.</summary>
    public Action? BeforeAttach { get; set; }

    public Task<bool> TryCreateAsync(JobRecord record, CancellationToken cancellationToken = default)
    {
        log.Add("Store.Create");
        return Task.FromResult(Records.TryAdd(record.TaskKey, record));
    }

    public Task<JobRecord?> GetAsync(string taskKey, CancellationToken cancellationToken = default)
    {
        log.Add("Store.Get");
        return Task.FromResult(Records.GetValueOrDefault(taskKey));
    }

    public Task<JobRecord?> FindByJobIdAsync(string jobId, CancellationToken cancellationToken = default)
    {
        log.Add("Store.FindByJobId");
        return Task.FromResult(Records.Values.FirstOrDefault(r => r.JobId == jobId));
    }

    public Task<bool> AttachJobAsync(string taskKey, SubmittedJob job, CancellationToken cancellationToken = default)
    {
        log.Add("Store.AttachJob");
        BeforeAttach?.Invoke();
        var open = Records.TryGetValue(taskKey, out var r) && !r.IsFinished;
        if (r is not null)
        {
            Records[taskKey] = r with
            {
                JobId = r.JobId ?? job.JobId,
                JobArn = r.JobArn ?? job.JobArn,
                JobName = job.JobName,
                Status = r.Status == RecordStatus.Submitting ? RecordStatus.Submitted : r.Status,
            };
        }
        return Task.FromResult(open);
    }

    public Task<IReadOnlyList<JobRecord>> FindOpenByExecutionAsync(string executionArn, CancellationToken cancellationToken = default)
    {
        log.Add("Store.FindOpenByExecution");
        return Task.FromResult<IReadOnlyList<JobRecord>>(Records.Values.Where(r => r.ExecutionArn == executionArn && !r.IsFinished).ToList());
    }

    /// <summary>Pages of <paramref name="limit"/> records, oldest first, like the sparse index.</summary>
    public Task<(IReadOnlyList<JobRecord> Records, string? NextPage)> ListOpenAsync(string? page, int limit, CancellationToken cancellationToken = default)
    {
        log.Add("Store.ListOpen");
        var open = Records.Values.Where(r => !r.IsFinished).OrderBy(r => r.CreatedAt).ThenBy(r => r.TaskKey, StringComparer.Ordinal).ToList();
        var skip = page is null ? 0 : int.Parse(page);
        var slice = open.Skip(skip).Take(limit).ToList();
        return Task.FromResult<(IReadOnlyList<JobRecord>, string?)>((slice, skip + limit < open.Count ? (skip + limit).ToString() : null));
    }

    public Task<bool> SetResultAsync(string taskKey, string resultJson, CancellationToken cancellationToken = default)
    {
        log.Add("Store.SetResult");
        if (!Records.TryGetValue(taskKey, out var r) || r.IsFinished)
        {
            return Task.FromResult(false);
        }
        Records[taskKey] = r with { Result = resultJson };
        return Task.FromResult(true);
    }

    public Task<bool> FinishAsync(string taskKey, RecordEnding ending, CancellationToken cancellationToken = default)
    {
        log.Add("Store.Finish");
        if (!Records.TryGetValue(taskKey, out var r) || r.IsFinished)
        {
            return Task.FromResult(false);
        }
        Records[taskKey] = r with { Status = ending.Status, Reason = ending.Reason, ExpiresAt = 1 };
        return Task.FromResult(true);
    }
}

/// <summary>One fake world: Batch, Step Functions, the store, and a shared call log.</summary>
public sealed class FakeWorld
{
    public const string Namespace = "teststack";
    public CallLog Log { get; } = new();
    public FakeBatch Batch { get; }
    public FakeTasks Tasks { get; }
    public InMemoryJobStore Store { get; }

    public FakeWorld()
    {
        Batch = new FakeBatch(Log);
        Tasks = new FakeTasks(Log);
        Store = new InMemoryJobStore(Log);
    }

    public Processing.JobSubmitter Submitter() => new(Batch, Tasks, Store, Namespace, TimeProvider.System);
    public Processing.JobEventProcessor Events() => new(Batch, Tasks, Store, Namespace);
    public Processing.CallbackProcessor Callbacks() => new(Batch, Tasks, Store, Namespace);
    public Processing.Reconciler Reconciler(DateTimeOffset? now = null) => new(Batch, Tasks, Store, Namespace, new FixedClock(now ?? DateTimeOffset.UtcNow));

    public static AwsServiceException BatchError(string code = "ClientException", string message = "Job queue q does not exist", int status = 400) =>
        new("AWSBatch", "SubmitJob", (HttpStatusCode)status, code, message, "req-1");

    /// <summary>A "Batch Job State Change" event for a job carrying <paramref name="marker"/>.</summary>
    public static byte[] Event(string jobId, string status, string? marker, string extraDetail = "")
    {
        var parameters = marker is null ? "{}" : $$"""{"{{SubmitRequestMapper.MarkerParameter}}":"{{marker}}","InputFile":"a"}""";
        var arn = $"arn:aws:batch:us-east-1:123456789012:job/{jobId}";
        var detail = $$"""{"jobArn":"{{arn}}","jobName":"j","jobId":"{{jobId}}","status":"{{status}}","statusReason":"because","parameters":{{parameters}},"createdAt":1{{extraDetail}}""" + "}";
        return Fixtures.Utf8($$"""{"version":"0","id":"e1","detail-type":"Batch Job State Change","source":"aws.batch","account":"123456789012","time":"2026-01-01T00:00:00Z","region":"us-east-1","resources":["{{arn}}"],"detail":{{detail}}""" + "}");
    }

    public static JsonElement Detail(byte[] evt) => JsonDocument.Parse(evt).RootElement.GetProperty("detail").Clone();
}

/// <summary>A clock that stands still at a chosen time.</summary>
public sealed class FixedClock(DateTimeOffset now) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => now;
}
