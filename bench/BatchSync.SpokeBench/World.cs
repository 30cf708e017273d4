using System.Text.Json;
using System.Text.Json.Nodes;
using Amazon.Runtime;
using BatchSync.Aws;
using BatchSync.Domain;

namespace BatchSync.SpokeBench;

/// <summary>Simulated wall time, moved by the bench (every due time, claim, lease and credential expiry reads it).</summary>
public sealed class SimClock(DateTimeOffset start) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = start;
    public override DateTimeOffset GetUtcNow() => Now;
}

/// <summary>Calls counted by name.</summary>
public sealed class Counter
{
    private readonly Dictionary<string, long> _counts = [];
    private long _total;

    public long Total => Interlocked.Read(ref _total);

    public void Add(string name)
    {
        Interlocked.Increment(ref _total);
        lock (_counts) { _counts[name] = _counts.GetValueOrDefault(name) + 1; }
    }

    public JsonObject ToJson()
    {
        lock (_counts)
        {
            return new JsonObject(_counts.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => KeyValuePair.Create(c.Key, (JsonNode?)c.Value)));
        }
    }
}

/// <summary>
/// STS as one warm function instance meets it: every AssumeRole is counted (per role, with its simulated time) and
/// answered with credentials that expire an hour later on the simulated clock; the access key names the role's account.
/// </summary>
public sealed class SimSts(SimClock clock, string instance) : IRoleAssumer
{
    public string Instance => instance;
    public List<(string RoleArn, DateTimeOffset At)> Calls { get; } = [];
    public int Count { get { lock (Calls) { return Calls.Count; } } }

    public Task<RoleCredentials> AssumeAsync(string roleArn, string externalId, CancellationToken cancellationToken)
    {
        int n;
        var now = clock.GetUtcNow();
        lock (Calls)
        {
            Calls.Add((roleArn, now));
            n = Calls.Count;
        }
        var account = roleArn.Split(':')[4];
        return Task.FromResult(new RoleCredentials($"ASIA-{account}-{instance}-{n}", "secret", "session", now + SpokeCredentials.Session));
    }

    public static string AccountOf(string accessKey) => accessKey.Split('-')[1];
}

/// <summary>
/// Step Functions in every account and region, as AWS keeps it: a token answers only at its execution's region, from a
/// principal of its execution's account (anything else: InvalidToken); once a terminal answer is accepted the token is
/// closed (TaskTimedOut). Every call is kept with the function instance that made it and the account it acted as.
/// </summary>
public sealed class SimStepFunctions(int seed)
{
    // Tokens from a seeded generator: a task's key (and so its sweep part and shard) is the same in every run.
    private readonly Random _tokenBytes = new(seed);
    private readonly Dictionary<string, (string Account, string Region, bool Closed)> _tokens = [];
    public List<(string Instance, string Account, string Region, string Operation, string Token, TaskReply Reply)> Calls { get; } = [];
    public int SecondAnswers { get; private set; }
    public int InvalidTokens { get; private set; }

    public int Count { get { lock (_tokens) { return Calls.Count; } } }
    public int Open { get { lock (_tokens) { return _tokens.Values.Count(t => !t.Closed); } } }

    public string Issue(string account, string region, int n)
    {
        var bytes = new byte[16];
        _tokenBytes.NextBytes(bytes);
        var token = $"tok-{account}-{region}-{n:D5}-{Convert.ToHexStringLower(bytes)}";
        lock (_tokens) { _tokens[token] = (account, region, false); }
        return token;
    }

    public TaskReply Call(string instance, string account, string region, string operation, string token)
    {
        lock (_tokens)
        {
            TaskReply reply;
            if (!_tokens.TryGetValue(token, out var at) || (at.Account, at.Region) != (account, region))
            {
                reply = TaskReply.InvalidToken;
                InvalidTokens++;
            }
            else if (at.Closed)
            {
                reply = TaskReply.TaskClosed;
                SecondAnswers += operation == "SendTaskHeartbeat" ? 0 : 1;
            }
            else
            {
                reply = TaskReply.Accepted;
                if (operation != "SendTaskHeartbeat")
                {
                    _tokens[token] = at with { Closed = true };
                }
            }
            Calls.Add((instance, account, region, operation, token, reply));
            return reply;
        }
    }
}

/// <summary>One function instance's Step Functions client for one region: it acts as whichever account its credentials are (none: the hub).</summary>
public sealed class PlaceClient(SimStepFunctions sfn, string hubAccount, string region, AWSCredentials? credentials, string instance) : IStepFunctionsApi
{
    private string Account => credentials is null ? hubAccount : SimSts.AccountOf(credentials.GetCredentials().AccessKey);

    public Task<TaskReply> SendTaskSuccessAsync(string taskToken, string output, CancellationToken cancellationToken = default) =>
        Task.FromResult(sfn.Call(instance, Account, region, "SendTaskSuccess", taskToken));

    public Task<TaskReply> SendTaskFailureAsync(string taskToken, string error, string cause, CancellationToken cancellationToken = default) =>
        Task.FromResult(sfn.Call(instance, Account, region, "SendTaskFailure", taskToken));

    public Task<TaskReply> SendTaskHeartbeatAsync(string taskToken, CancellationToken cancellationToken = default) =>
        Task.FromResult(sfn.Call(instance, Account, region, "SendTaskHeartbeat", taskToken));
}

/// <summary>A job's life as the bench plans it (times on the simulated clock).</summary>
public sealed class SimJob
{
    public required string JobId { get; init; }
    public required string JobName { get; init; }
    public required string JobQueue { get; init; }
    public required string JobDefinition { get; init; }
    public required JsonObject Parameters { get; init; }
    public required DateTimeOffset SubmittedAt { get; init; }
    public DateTimeOffset? EndsAt { get; set; }
    public bool Succeeds { get; set; } = true;
    public bool Terminated { get; set; }

    public string Arn => $"arn:aws:batch:us-east-1:123456789012:job/{JobId}";

    public string StatusAt(DateTimeOffset now) =>
        Terminated ? "FAILED"
        : EndsAt is not { } end ? "SUBMITTED"
        : now >= end ? (Succeeds ? "SUCCEEDED" : "FAILED")
        : now >= SubmittedAt + TimeSpan.FromSeconds(70) ? "RUNNING"
        : now >= SubmittedAt + TimeSpan.FromSeconds(40) ? "STARTING"
        : now >= SubmittedAt + TimeSpan.FromSeconds(10) ? "RUNNABLE"
        : "SUBMITTED";

    public JsonObject Detail(string status, DateTimeOffset now)
    {
        var detail = new JsonObject
        {
            ["jobArn"] = Arn, ["jobName"] = JobName, ["jobId"] = JobId, ["jobQueue"] = JobQueue, ["jobDefinition"] = JobDefinition,
            ["status"] = status, ["createdAt"] = SubmittedAt.ToUnixTimeMilliseconds(), ["parameters"] = Parameters.DeepClone(),
        };
        if (status is "RUNNING" or "SUCCEEDED" or "FAILED")
        {
            detail["startedAt"] = (SubmittedAt + TimeSpan.FromSeconds(70)).ToUnixTimeMilliseconds();
        }
        if (status is "SUCCEEDED" or "FAILED")
        {
            detail["stoppedAt"] = (EndsAt ?? now).ToUnixTimeMilliseconds();
            detail["statusReason"] = status == "FAILED" ? "Essential container in task exited" : "";
            detail["container"] = new JsonObject { ["exitCode"] = status == "FAILED" ? 1 : 0 };
        }
        return detail;
    }
}

/// <summary>Batch in the hub's account: SubmitJob makes a job, DescribeJobs tells each job's status at the simulated time.</summary>
public sealed class SimBatch(SimClock clock, Counter calls) : IBatchApi
{
    public Task<SubmittedJob> SubmitServiceJobAsync(byte[] requestBody, CancellationToken cancellationToken = default) => throw new NotSupportedException("no service jobs here");
    public Task<BatchJob?> DescribeServiceJobAsync(string jobId, CancellationToken cancellationToken = default) => throw new NotSupportedException("no service jobs here");
    public Task TerminateServiceJobAsync(string jobId, string reason, CancellationToken cancellationToken = default) => throw new NotSupportedException("no service jobs here");
    public Task<JobPage> ListServiceJobsNamedAsync(string jobQueue, string jobName, string? nextToken, CancellationToken cancellationToken = default) => throw new NotSupportedException("no service jobs here");
    private readonly Dictionary<string, SimJob> _jobs = [];

    public SimJob Job(string jobId) { lock (_jobs) { return _jobs[jobId]; } }

    public Task<SubmittedJob> SubmitJobAsync(byte[] requestBody, CancellationToken cancellationToken = default)
    {
        calls.Add("Batch.SubmitJob");
        var request = JsonNode.Parse(requestBody)!.AsObject();
        lock (_jobs)
        {
            var id = $"job-{_jobs.Count + 1}";
            var job = new SimJob
            {
                JobId = id, JobName = (string)request["jobName"]!, JobQueue = (string)request["jobQueue"]!, JobDefinition = (string)request["jobDefinition"]!,
                Parameters = request["parameters"]?.DeepClone().AsObject() ?? [], SubmittedAt = clock.GetUtcNow(),
            };
            _jobs[id] = job;
            return Task.FromResult(new SubmittedJob(job.Arn, id, job.JobName));
        }
    }

    public Task<IReadOnlyList<BatchJob>> DescribeJobsAsync(IReadOnlyList<string> jobIds, CancellationToken cancellationToken = default)
    {
        calls.Add("Batch.DescribeJobs");
        var now = clock.GetUtcNow();
        List<SimJob> found;
        lock (_jobs) { found = jobIds.Where(_jobs.ContainsKey).Select(id => _jobs[id]).ToList(); }
        return Task.FromResult<IReadOnlyList<BatchJob>>(found
            .Select(j => BatchJob.Of(JsonDocument.Parse(j.Detail(j.StatusAt(now), now).ToJsonString()).RootElement.Clone())).ToList());
    }

    public Task TerminateJobAsync(string jobId, string reason, CancellationToken cancellationToken = default)
    {
        calls.Add("Batch.TerminateJob");
        lock (_jobs)
        {
            if (_jobs.TryGetValue(jobId, out var job))
            {
                job.Terminated = true;
            }
        }
        return Task.CompletedTask;
    }

    public Task<JobPage> ListJobsNamedAsync(string jobQueue, string jobName, string? nextToken, CancellationToken cancellationToken = default)
    {
        calls.Add("Batch.ListJobs");
        return Task.FromResult(new JobPage([], null));
    }

    public Task<JobPage> ListFailedChildrenAsync(string arrayJobId, int pageSize, string? nextToken, CancellationToken cancellationToken = default)
    {
        calls.Add("Batch.ListJobs");
        return Task.FromResult(new JobPage([], null));
    }

    /// <summary>The "Batch Job State Change" event EventBridge would deliver for this job at this status.</summary>
    public static byte[] Event(SimJob job, string status, DateTimeOffset now, long id) =>
        System.Text.Encoding.UTF8.GetBytes(new JsonObject
        {
            ["version"] = "0", ["id"] = $"e-{id}", ["detail-type"] = "Batch Job State Change", ["source"] = "aws.batch",
            ["account"] = "123456789012", ["time"] = now.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture),
            ["region"] = "us-east-1", ["resources"] = new JsonArray(job.Arn), ["detail"] = job.Detail(status, now),
        }.ToJsonString());
}
