using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using BatchSync.Aws;
using BatchSync.Domain;

namespace BatchSync.Tests;

/// <summary>Everything the fakes were asked, in order, so tests can check what happened and in which order.</summary>
public sealed class CallLog
{
    public List<string> Calls { get; } = [];
    public void Add(string call) { lock (Calls) { Calls.Add(call); } }
}

/// <summary>
/// Batch, as strict as the service where it matters here: SubmitJob has no idempotency token (each call makes a job),
/// a call may act and then fail to answer (<see cref="FailAfterSubmit"/>), and a fresh job may be missing from
/// ListJobs/DescribeJobs for a while (<see cref="HideSubmitted"/>, until <see cref="RevealAll"/>).
/// </summary>
public sealed class FakeBatch(CallLog log) : IBatchApi
{
    private readonly object _gate = new();
    private readonly HashSet<string> _hidden = [];
    public List<JsonObject> Submitted { get; } = [];
    public Dictionary<string, JsonElement> Jobs { get; } = [];
    public Exception? SubmitError { get; set; }
    public Exception? DescribeError { get; set; }
    public List<(string JobId, string Reason)> Terminated { get; } = [];
    /// <summary>Submitted jobs become describable (status SUBMITTED, with their parameters), as in Batch.</summary>
    public bool KeepSubmitted { get; set; }
    /// <summary>Submitted jobs stay out of ListJobs/DescribeJobs answers until <see cref="RevealAll"/> (eventual consistency).</summary>
    public bool HideSubmitted { get; set; }
    /// <summary>Batch creates the job, then this is thrown instead of its answer (a 5xx or a connection lost after acting).</summary>
    public Func<Exception?>? FailAfterSubmit { get; set; }
    public TimeSpan SubmitDelay { get; set; }

    public void RevealAll() { lock (_gate) { _hidden.Clear(); } }

    public Task<SubmittedJob> SubmitJobAsync(byte[] requestBody, CancellationToken cancellationToken = default) =>
        SubmitJobAsync(JsonNode.Parse(requestBody)!.AsObject(), cancellationToken);

    public async Task<SubmittedJob> SubmitJobAsync(JsonObject request, CancellationToken cancellationToken = default)
    {
        log.Add("Batch.SubmitJob");
        if (SubmitDelay > TimeSpan.Zero)
        {
            await Task.Delay(SubmitDelay, cancellationToken);
        }
        if (SubmitError is not null)
        {
            throw SubmitError;
        }
        SubmittedJob job;
        lock (_gate)
        {
            Submitted.Add((JsonObject)request.DeepClone());
            var id = $"job-{Submitted.Count}";
            job = new SubmittedJob($"arn:aws:batch:us-east-1:123456789012:job/{id}", id, (string)request["jobName"]!);
            if (KeepSubmitted)
            {
                Jobs[id] = JsonDocument.Parse(new JsonObject
                {
                    ["jobArn"] = job.JobArn, ["jobId"] = id, ["jobName"] = job.JobName, ["status"] = "SUBMITTED",
                    ["createdAt"] = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), ["parameters"] = request["parameters"]?.DeepClone(),
                }.ToJsonString()).RootElement.Clone();
                if (HideSubmitted)
                {
                    _hidden.Add(id);
                }
            }
        }
        if (FailAfterSubmit?.Invoke() is { } lost)
        {
            throw lost;
        }
        return job;
    }

    public Task<IReadOnlyList<BatchJob>> DescribeJobsAsync(IReadOnlyList<string> jobIds, CancellationToken cancellationToken = default)
    {
        log.Add("Batch.DescribeJobs");
        if (DescribeError is not null)
        {
            throw DescribeError;
        }
        lock (_gate)
        {
            return Task.FromResult<IReadOnlyList<BatchJob>>(jobIds.Where(id => Jobs.ContainsKey(id) && !_hidden.Contains(id)).Select(id => BatchJob.Of(Jobs[id])).ToList());
        }
    }

    public Task TerminateJobAsync(string jobId, string reason, CancellationToken cancellationToken = default)
    {
        log.Add("Batch.TerminateJob");
        lock (_gate) { Terminated.Add((jobId, reason)); }
        return Task.CompletedTask;
    }

    public Task<JobPage> ListJobsNamedAsync(string jobQueue, string jobName, string? nextToken, CancellationToken cancellationToken = default) =>
        ListAsync(jobName);

    /// <summary>Every job (this fake keeps no array children).</summary>
    public Task<JobPage> ListFailedChildrenAsync(string arrayJobId, int pageSize, string? nextToken, CancellationToken cancellationToken = default) =>
        ListAsync(null);

    /// <summary>The SubmitServiceJob requests received (refused ones too), as sent.</summary>
    public List<JsonObject> ServiceSubmits { get; } = [];

    /// <summary>
    /// SubmitServiceJob as the model documents it: a second request with a clientToken already used is rejected
    /// (ClientException; the text is ours, AWS's is not documented), identical or not; tags become the job's tags.
    /// </summary>
    public async Task<SubmittedJob> SubmitServiceJobAsync(byte[] requestBody, CancellationToken cancellationToken = default)
    {
        log.Add("Batch.SubmitServiceJob");
        var request = JsonNode.Parse(requestBody)!.AsObject();
        if (SubmitDelay > TimeSpan.Zero)
        {
            await Task.Delay(SubmitDelay, cancellationToken);
        }
        if (SubmitError is not null)
        {
            throw SubmitError;
        }
        SubmittedJob job;
        lock (_gate)
        {
            var token = (string?)request["clientToken"];
            var used = token is not null && ServiceSubmits.Any(r => (string?)r["clientToken"] == token);
            ServiceSubmits.Add((JsonObject)request.DeepClone());
            if (used)
            {
                throw new AwsServiceException("AWSBatch", "SubmitServiceJob", System.Net.HttpStatusCode.BadRequest, "ClientException", "a request with this clientToken was received before", "r-dup");
            }
            var id = $"service-job-{ServiceSubmits.Count}";
            job = new SubmittedJob($"arn:aws:batch:us-east-1:123456789012:service-job/{id}", id, (string)request["jobName"]!, JobKind.Service);
            Jobs[id] = JsonDocument.Parse(new JsonObject
            {
                ["jobArn"] = job.JobArn, ["jobId"] = id, ["jobName"] = job.JobName, ["jobQueue"] = request["jobQueue"]?.DeepClone(),
                ["serviceJobType"] = request["serviceJobType"]?.DeepClone(), ["status"] = "SUBMITTED",
                ["createdAt"] = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), ["tags"] = request["tags"]?.DeepClone(),
            }.ToJsonString()).RootElement.Clone();
            if (HideSubmitted)
            {
                _hidden.Add(id);
            }
        }
        if (FailAfterSubmit?.Invoke() is { } lost)
        {
            throw lost;
        }
        return job;
    }

    public Task<BatchJob?> DescribeServiceJobAsync(string jobId, CancellationToken cancellationToken = default)
    {
        log.Add("Batch.DescribeServiceJob");
        if (DescribeError is not null)
        {
            throw DescribeError;
        }
        lock (_gate)
        {
            return Task.FromResult(Jobs.TryGetValue(jobId, out var job) && !_hidden.Contains(jobId) ? BatchJob.Of(job) : null);
        }
    }

    public Task TerminateServiceJobAsync(string jobId, string reason, CancellationToken cancellationToken = default)
    {
        log.Add("Batch.TerminateServiceJob");
        lock (_gate) { Terminated.Add((jobId, reason)); }
        return Task.CompletedTask;
    }

    public Task<JobPage> ListServiceJobsNamedAsync(string jobQueue, string jobName, string? nextToken, CancellationToken cancellationToken = default)
    {
        log.Add("Batch.ListServiceJobs");
        return ListAsync(jobName, "Batch.ListServiceJobs");
    }

    private Task<JobPage> ListAsync(string? name, string? logged = null)
    {
        if (logged is null)
        {
            log.Add("Batch.ListJobs");
        }
        lock (_gate)
        {
            var jobs = Jobs.Values
                .Where(j => !_hidden.Contains(j.GetProperty("jobId").GetString()!))
                .Where(j => name is null || string.Equals(j.GetProperty("jobName").GetString(), name, StringComparison.OrdinalIgnoreCase))
                .Select(j => new JobSummary(j.GetProperty("jobId").GetString()!, j.GetProperty("jobName").GetString()!, j.GetProperty("status").GetString(),
                    j.TryGetProperty("createdAt", out var c) && c.TryGetInt64(out var at) ? at : null))
                .OrderByDescending(j => j.CreatedAt)
                .ToList();
            return Task.FromResult(new JobPage(jobs, null));
        }
    }
}

public sealed record SentAnswer(string Operation, string Token, string? Output, string? Error, string? Cause, bool Accepted = false);

/// <summary>
/// Step Functions' task-token calls, as strict as the service: once a terminal answer is accepted, or the token is
/// killed (a state-level Retry moved on to a new token, the execution ended), every call with it answers TaskTimedOut.
/// <see cref="Sent"/> keeps every call made, so tests count what BatchSync sent, not what Step Functions kept.
/// </summary>
public sealed class FakeStepFunctions(CallLog log) : IStepFunctionsApi
{
    private readonly object _gate = new();
    public List<SentAnswer> Sent { get; } = [];
    /// <summary>What a call with a live token is answered (the test can make every call say InvalidToken, say).</summary>
    public TaskReply Answer { get; set; } = TaskReply.Accepted;
    public Exception? Error { get; set; }
    /// <summary>Thrown once per terminal answer after Step Functions took it: the acknowledgment is lost on the way back.</summary>
    public Func<SentAnswer, Exception?>? LoseAcknowledgment { get; set; }
    public HashSet<string> DeadTokens { get; } = [];
    /// <summary>When it returns an exception, the call fails with it before Step Functions did anything (throttled, say).</summary>
    public Func<SentAnswer, Exception?>? FailBefore { get; set; }
    /// <summary>How long each call takes (a slow or throttling service).</summary>
    public TimeSpan Delay { get; set; }
    /// <summary>The calls that failed before Step Functions did anything (<see cref="FailBefore"/>).</summary>
    public System.Collections.Concurrent.ConcurrentQueue<SentAnswer> Refused { get; } = new();

    public Task<TaskReply> SendTaskSuccessAsync(string taskToken, string output, CancellationToken cancellationToken = default) =>
        Record(new SentAnswer("SendTaskSuccess", taskToken, output, null, null));

    public Task<TaskReply> SendTaskFailureAsync(string taskToken, string error, string cause, CancellationToken cancellationToken = default) =>
        Record(new SentAnswer("SendTaskFailure", taskToken, null, error, cause));

    public Task<TaskReply> SendTaskHeartbeatAsync(string taskToken, CancellationToken cancellationToken = default) =>
        Record(new SentAnswer("SendTaskHeartbeat", taskToken, null, null, null));

    /// <summary>The terminal answers sent with a token after one had been accepted for it (must stay 0).</summary>
    public int SecondAnswers(string taskToken)
    {
        lock (_gate)
        {
            var accepted = false;
            var after = 0;
            foreach (var call in Sent.Where(a => a.Token == taskToken && a.Operation != "SendTaskHeartbeat"))
            {
                after += accepted ? 1 : 0;
                accepted |= call.Accepted;
            }
            return after;
        }
    }

    private async Task<TaskReply> Record(SentAnswer call)
    {
        log.Add($"StepFunctions.{call.Operation}");
        if (Delay > TimeSpan.Zero)
        {
            await Task.Delay(Delay);
        }
        if (Error is not null)
        {
            throw Error;
        }
        if (FailBefore?.Invoke(call) is { } refused)
        {
            Refused.Enqueue(call);
            throw refused;
        }
        TaskReply answer;
        lock (_gate)
        {
            answer = DeadTokens.Contains(call.Token) ? TaskReply.TaskClosed : Answer;
            var terminal = call.Operation != "SendTaskHeartbeat";
            call = call with { Accepted = terminal && answer == TaskReply.Accepted };
            Sent.Add(call);
            if (call.Accepted)
            {
                DeadTokens.Add(call.Token);
            }
        }
        if (call.Accepted && LoseAcknowledgment?.Invoke(call) is { } lost)
        {
            throw lost;
        }
        return answer;
    }
}

/// <summary>The in-memory store (InMemoryRecordStore.cs, shared with bench/BatchSync.SpokeBench) noting each call in the test's log.</summary>
public sealed partial class InMemoryRecordStore
{
    public InMemoryRecordStore(CallLog log) : this(log.Add)
    {
    }
}

/// <summary>One fake world: Batch, Step Functions, the store, and a shared call log.</summary>
public sealed class FakeWorld
{
    public const string Namespace = "teststack";
    public CallLog Log { get; } = new();
    public FakeBatch Batch { get; }
    public FakeStepFunctions StepFunctions { get; }
    public InMemoryRecordStore Store { get; }

    /// <summary>
    /// <paramref name="count"/> open tasks t0, t1, ..., each with its job job-0, job-1, ... in Batch (RUNNING unless
    /// <paramref name="statusOf"/> says otherwise), all due, the oldest first; their record keys, in that order.
    /// </summary>
    public List<string> AddDueTasks(int count, Func<int, string>? statusOf = null)
    {
        var keys = new List<string>();
        for (var i = 0; i < count; i++)
        {
            var key = TaskKey.For($"t{i}");
            keys.Add(key);
            Store.Records[key] = new TaskRecord { TaskKey = key, TaskToken = $"t{i}", Status = RecordStatus.Submitted, JobId = $"job-{i}", CreatedAt = i, NextCheckAt = i };
            Batch.Jobs[$"job-{i}"] = Detail(Event($"job-{i}", statusOf?.Invoke(i) ?? "RUNNING", TaskKey.Marker(Namespace, key)));
        }
        return keys;
    }

    public FakeWorld()
    {
        Batch = new FakeBatch(Log);
        StepFunctions = new FakeStepFunctions(Log);
        Store = new InMemoryRecordStore(Log);
    }

    public Processing.JobSubmitter Submitter(DateTimeOffset? now = null, Timing? timing = null) =>
        new(Batch, StepFunctions, Store, Namespace, now is { } at ? new FixedClock(at) : TimeProvider.System, timing);
    public Processing.JobEventProcessor Events(DateTimeOffset? now = null) => new(Batch, StepFunctions, Store, Namespace, now is { } at ? new FixedClock(at) : null);
    public Processing.CallbackProcessor Callbacks() => new(Batch, StepFunctions, Store, Namespace);
    public Processing.Reconciler Reconciler(DateTimeOffset? now = null) => new(Batch, StepFunctions, Store, Namespace, new FixedClock(now ?? DateTimeOffset.UtcNow));

    public static AwsServiceException BatchError(string code = "ClientException", string message = "Job queue q does not exist", int status = 400) =>
        new("AWSBatch", "SubmitJob", (HttpStatusCode)status, code, message, "req-1");

    /// <summary>A "Batch Job State Change" event for a job carrying <paramref name="marker"/>.</summary>
    public static byte[] Event(string jobId, string status, string? marker, string extraDetail = "", long createdAt = 1)
    {
        var parameters = marker is null ? "{}" : $$"""{"{{TaskKey.MarkerParameter}}":"{{marker}}","InputFile":"a"}""";
        var arn = $"arn:aws:batch:us-east-1:123456789012:job/{jobId}";
        var detail = $$"""{"jobArn":"{{arn}}","jobName":"j","jobId":"{{jobId}}","status":"{{status}}","statusReason":"because","parameters":{{parameters}},"createdAt":{{createdAt}}{{extraDetail}}""" + "}";
        return Fixtures.Utf8($$"""{"version":"0","id":"e1","detail-type":"Batch Job State Change","source":"aws.batch","account":"123456789012","time":"2026-01-01T00:00:00Z","region":"us-east-1","resources":["{{arn}}"],"detail":{{detail}}""" + "}");
    }

    public static JsonElement Detail(byte[] evt) => JsonDocument.Parse(evt).RootElement.GetProperty("detail").Clone();
}

/// <summary>A clock that stands still at a chosen time.</summary>
public sealed class FixedClock(DateTimeOffset now) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => now;
}

/// <summary>A clock that moves on by a step every time it is read (a sweep budget that runs out part way).</summary>
public sealed class StepClock(DateTimeOffset start, TimeSpan step) : TimeProvider
{
    private long _reads;
    public override DateTimeOffset GetUtcNow() => start + step * Interlocked.Increment(ref _reads);
    public override long GetTimestamp() => (start + step * Interlocked.Increment(ref _reads)).UtcTicks;
    public override long TimestampFrequency => TimeSpan.TicksPerSecond;
}
