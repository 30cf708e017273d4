using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using BatchSync.Model;

namespace BatchSync.LocalWorld;

/// <summary>
/// AWS Batch service jobs (SageMaker Training queued through Batch), which moto 5.2.1 does not have. A loopback HTTP/1.1
/// stand-in (127.0.0.1, a free port) that answers <c>POST /v1/submitservicejob</c>, <c>/v1/describeservicejob</c>,
/// <c>/v1/terminateservicejob</c> and <c>/v1/listservicejobs</c> itself and forwards every other request to the upstream
/// (moto) unchanged, as <see cref="StsGate"/> does.
/// <para>
/// Requests are checked strictly against the official model (tests/BatchSync.Tests/Fixtures/aws-models/
/// batch-2016-08-10.service-2.json: required members, JSON types, enums, min/max of strings, lists and maps, and no
/// member the shape does not have) and then against the limits the API reference states only in prose (jobName ≤ 128
/// of [A-Za-z0-9_-]; schedulingPriority 0–9999; retryStrategy.attempts 1–10; evaluateOnExit ≤ 5 (User Guide, "Service
/// job retry strategies"), onStatusReason ≤ 512; maxResults 1–100; one filter at a time; shareIdentifier/quotaShareName
/// only on a queue with such a policy — the stand-in's queues have none); the job queue must be one made with
/// <see cref="AddQueue"/> and of type SAGEMAKER_TRAINING. Refusals are Batch's <c>ClientException</c> (400,
/// <c>X-Amzn-ErrorType</c> and <c>{"__type":"ClientException","message":…}</c>); the message texts are ours, AWS's exact
/// wording is not documented. The payload is not checked ("The serviceRequestPayload is passed through without
/// validation", User Guide, "Submit a service job").
/// </para>
/// <para>
/// Jobs do not move by themselves: the test drives them (<see cref="Advance"/>, <see cref="Succeed"/>,
/// <see cref="Fail"/>) through SUBMITTED → PENDING → RUNNABLE → SCHEDULED → STARTING → RUNNING → SUCCEEDED | FAILED
/// (and SCHEDULED.. → RUNNABLE again: "A Service job can transition from SCHEDULED back to RUNNABLE state when they
/// encounter capacity constraints", model doc of latestAttempt). An attempt begins at SCHEDULED, with the SageMaker
/// training job Batch creates: <c>AWSBatch</c> + the payload's TrainingJobName + 32 hex (User Guide event sample).
/// </para>
/// Not modelled: fair-share and quota-share queues, preemption, UpdateServiceJob, TerminateServiceJobs (bulk; not in the
/// pinned model), timeouts and retries done by Batch itself (the test plays them), throttling, IAM, events sent on their
/// own (the test asks <see cref="EventFor"/> and routes it).
/// </summary>
public sealed class ServiceJobs : IDisposable
{
    public const string SageMakerTraining = "SAGEMAKER_TRAINING";

    /// <summary>The model's ServiceJobStatus, in the order a job goes through them.</summary>
    public static readonly IReadOnlyList<string> Statuses = ["SUBMITTED", "PENDING", "RUNNABLE", "SCHEDULED", "STARTING", "RUNNING", "SUCCEEDED", "FAILED"];

    private static readonly Dictionary<string, string> Operations = new(StringComparer.OrdinalIgnoreCase)
    {
        ["/v1/submitservicejob"] = "SubmitServiceJob",
        ["/v1/describeservicejob"] = "DescribeServiceJob",
        ["/v1/terminateservicejob"] = "TerminateServiceJob",
        ["/v1/listservicejobs"] = "ListServiceJobs",
    };

    private readonly TcpListener _listener;
    private readonly Uri _target;
    private readonly HttpClient _upstream = new(new HttpClientHandler { AllowAutoRedirect = false }) { Timeout = TimeSpan.FromSeconds(100) };
    private readonly CancellationTokenSource _stop = new();
    private readonly object _gate = new();
    private readonly Dictionary<string, Queue> _queues = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Job> _jobs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string Request, string JobId)> _tokens = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _calls = new(StringComparer.Ordinal);
    private int _dropAfterSubmit;

    /// <param name="upstream">Where every other request goes (moto).</param>
    /// <param name="account">The account of the queues and jobs (SigV4 scopes name a region, not an account).</param>
    /// <param name="modelPath">The official Batch model; default: the copy under tests/BatchSync.Tests/Fixtures/aws-models.</param>
    public ServiceJobs(string upstream, string account = AwsWorld.Account, string? modelPath = null)
    {
        _target = new Uri(upstream.TrimEnd('/') + "/");
        Account = account;
        var path = modelPath ?? Path.Combine(SamTemplate.RepoRoot, "tests", "BatchSync.Tests", "Fixtures", "aws-models", "batch-2016-08-10.service-2.json");
        using (var model = JsonDocument.Parse(File.ReadAllText(path)))
        {
            Model = BatchShapes.Parse(model.RootElement.GetProperty("shapes"));
        }
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _ = Task.Run(AcceptAsync);
    }

    public int Port { get; }
    public string Endpoint => $"http://127.0.0.1:{Port}";
    public string Account { get; }

    /// <summary>The official model's shapes, as the stand-in checks requests and shapes answers.</summary>
    public BatchShapes Model { get; }

    /// <summary>Milliseconds since the epoch for createdAt, startedAt...; the test may set a clock of its own.</summary>
    public Func<long> Clock { get; set; } = () => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    /// <summary>
    /// Fault: a job younger than this is left out of ListServiceJobs and DescribeServiceJob answers (DescribeServiceJob
    /// then answers as for an unknown job). Batch's lists may lag a fresh submit; the stand-in's never would.
    /// </summary>
    public TimeSpan ListingLag { get; set; }

    /// <summary>Fault: the next <paramref name="count"/> SubmitServiceJob calls create their job, then the connection is reset.</summary>
    public void DropAfterSubmit(int count = 1) => Interlocked.Exchange(ref _dropAfterSubmit, count);

    /// <summary>Requests per operation: the four service-job operations by name (refused ones included), "forwarded" for the rest.</summary>
    public int Calls(string operation) => _calls.GetValueOrDefault(operation);

    private readonly System.Collections.Concurrent.ConcurrentQueue<(string Operation, JsonObject Request)> _answers = new();

    /// <summary>
    /// The SendTask* calls forwarded to Step Functions, as sent (what BatchSync sent: moto keeps no cause in an
    /// execution's history or a Catch's output).
    /// </summary>
    public IReadOnlyList<(string Operation, JsonObject Request)> StepFunctionsCalls => [.. _answers];

    /// <summary>Every job id, oldest first.</summary>
    public IReadOnlyList<string> JobIds
    {
        get
        {
            lock (_gate)
            {
                return _jobs.Values.OrderBy(j => j.CreatedAt).Select(j => j.Id).ToList();
            }
        }
    }

    /// <summary>A job queue of <paramref name="type"/> (SAGEMAKER_TRAINING unless a test wants another type refused); its ARN.</summary>
    public string AddQueue(string name, string region = "us-east-1", string type = SageMakerTraining)
    {
        var arn = $"arn:aws:batch:{region}:{Account}:job-queue/{name}";
        lock (_gate)
        {
            _queues[arn] = new Queue(name, arn, region, type);
        }
        return arn;
    }

    /// <summary>
    /// Moves the job on to <paramref name="status"/>, through each status in between (SUBMITTED → PENDING → RUNNABLE →
    /// SCHEDULED → STARTING → RUNNING); SUCCEEDED or FAILED end it; RUNNABLE from SCHEDULED, STARTING or RUNNING ends the
    /// attempt (capacity: the job is queued again). A final job does not move.
    /// </summary>
    public void Advance(string jobId, string status, string? statusReason = null)
    {
        lock (_gate)
        {
            var job = Find(jobId) ?? throw new ArgumentException($"No service job {jobId}.", nameof(jobId));
            if (!Statuses.Contains(status))
            {
                throw new ArgumentException($"{status} is not a service job status.", nameof(status));
            }
            if (job.IsFinal)
            {
                throw new InvalidOperationException($"Service job {jobId} is {job.Status} already.");
            }
            var now = Clock();
            var from = Rank(job.Status);
            var to = Rank(status);
            if (status == "RUNNABLE" && from > Rank("RUNNABLE"))
            {
                EndAttempt(job, now, statusReason);
                job.Status = "RUNNABLE";
                job.StatusReason = statusReason;
                return;
            }
            if (to < from)
            {
                throw new InvalidOperationException($"Service job {jobId} is {job.Status}: it cannot go back to {status}.");
            }
            // A job succeeds only once it ran; it may fail anywhere (before SCHEDULED: no training job, no attempt).
            var final = status is "SUCCEEDED" or "FAILED";
            var last = status == "SUCCEEDED" ? Rank("RUNNING") : status == "FAILED" ? from : to;
            for (var rank = from + 1; rank <= last; rank++)
            {
                Enter(job, Statuses[rank], now);
            }
            if (final)
            {
                EndAttempt(job, now, statusReason);
                job.StoppedAt = now;
                job.Status = status;
            }
            else
            {
                job.Status = status;
            }
            job.StatusReason = statusReason;
        }
    }

    /// <summary>SUCCEEDED, with the status reason Batch gives (User Guide event sample).</summary>
    public void Succeed(string jobId, string statusReason = "Received status from SageMaker: Training job completed") =>
        Advance(jobId, "SUCCEEDED", statusReason);

    /// <summary>FAILED with this reason (SageMaker's come prefixed "Received status from SageMaker: ").</summary>
    public void Fail(string jobId, string statusReason) => Advance(jobId, "FAILED", statusReason);

    public string StatusOf(string jobId)
    {
        lock (_gate)
        {
            return (Find(jobId) ?? throw new ArgumentException($"No service job {jobId}.", nameof(jobId))).Status;
        }
    }

    /// <summary>DescribeServiceJob's answer for the job as it is now (ListingLag does not apply).</summary>
    public JsonObject Describe(string jobId)
    {
        lock (_gate)
        {
            return DescribeOf(Find(jobId) ?? throw new ArgumentException($"No service job {jobId}.", nameof(jobId)));
        }
    }

    /// <summary>
    /// The SubmitServiceJob request the job was made from, as the stand-in received it (clientToken included, which no
    /// answer of Batch's shows): a copy.
    /// </summary>
    public JsonObject SubmittedRequest(string jobId)
    {
        lock (_gate)
        {
            return (Find(jobId) ?? throw new ArgumentException($"No service job {jobId}.", nameof(jobId))).Request.DeepClone().AsObject();
        }
    }

    /// <summary>
    /// The "Batch Service Job State Change" event for the job as it is now, as the User Guide's sample shows it
    /// ("Service job state change events"): source aws.batch, resources = [the job's ARN], detail = the DescribeServiceJob
    /// answer without tags and serviceRequestPayload ("The tags and serviceRequestPayload fields are not included in the
    /// event detail."). Batch sends none for the submit itself ("Events aren't created for the initial job submission").
    /// </summary>
    public JsonObject EventFor(string jobId)
    {
        lock (_gate)
        {
            var job = Find(jobId) ?? throw new ArgumentException($"No service job {jobId}.", nameof(jobId));
            var detail = DescribeOf(job);
            detail.Remove("tags");
            detail.Remove("serviceRequestPayload");
            return new JsonObject
            {
                ["version"] = "0",
                ["id"] = Guid.NewGuid().ToString(),
                ["detail-type"] = "Batch Service Job State Change",
                ["source"] = "aws.batch",
                ["account"] = Account,
                ["time"] = DateTimeOffset.FromUnixTimeMilliseconds(Clock()).UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
                ["region"] = job.Region,
                ["resources"] = new JsonArray(job.Arn),
                ["detail"] = detail,
            };
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        _upstream.Dispose();
    }

    private sealed record Queue(string Name, string Arn, string Region, string Type);

    private sealed class Attempt
    {
        public required string TrainingJobArn { get; init; }
        public long? StartedAt { get; set; }
        public long? StoppedAt { get; set; }
        public string? StatusReason { get; set; }
    }

    private sealed class Job
    {
        public required string Id { get; init; }
        public required string Arn { get; init; }
        public required string Region { get; init; }
        public required Queue Queue { get; init; }
        public required JsonObject Request { get; init; }
        public required long CreatedAt { get; init; }
        public string Status { get; set; } = "SUBMITTED";
        public string? StatusReason { get; set; }
        public long? ScheduledAt { get; set; }
        public long? StartedAt { get; set; }
        public long? StoppedAt { get; set; }
        public bool IsTerminated { get; set; }
        public List<Attempt> Attempts { get; } = [];
        public Attempt? Current { get; set; }
        public bool IsFinal => Status is "SUCCEEDED" or "FAILED";
        public string Name => (string)Request["jobName"]!;
    }

    private static int Rank(string status) => status == "FAILED" ? Statuses.Count - 2 : Statuses.ToList().IndexOf(status);

    private void Enter(Job job, string status, long now)
    {
        switch (status)
        {
            case "SCHEDULED":
                job.ScheduledAt = now;
                var attempt = new Attempt { TrainingJobArn = $"arn:aws:sagemaker:{job.Region}:{Account}:training-job/AWSBatch{TrainingJobName(job)}{RandomNumberGenerator.GetHexString(32, lowercase: true)}" };
                job.Attempts.Add(attempt);
                job.Current = attempt;
                break;
            case "RUNNING":
                job.StartedAt ??= now;
                if (job.Current is { } current)
                {
                    current.StartedAt = now;
                }
                break;
        }
    }

    private static void EndAttempt(Job job, long now, string? statusReason)
    {
        if (job.Current is { } attempt)
        {
            attempt.StartedAt ??= now;
            attempt.StoppedAt = now;
            attempt.StatusReason = statusReason;
            job.Current = null;
        }
    }

    private static string TrainingJobName(Job job)
    {
        try
        {
            if (JsonNode.Parse((string)job.Request["serviceRequestPayload"]!) is JsonObject payload && payload["TrainingJobName"] is JsonValue name
                && name.TryGetValue<string>(out var text))
            {
                return text;
            }
        }
        catch (JsonException)
        {
        }
        throw new InvalidOperationException(
            $"Service job {job.Id}: its serviceRequestPayload has no TrainingJobName, so SageMaker would create no training job; fail it before SCHEDULED instead.");
    }

    /// <summary>By id or by ARN (the SageMaker Python SDK passes the ARN as jobId).</summary>
    private Job? Find(string idOrArn)
    {
        var id = idOrArn.StartsWith("arn:", StringComparison.Ordinal) ? idOrArn[(idOrArn.LastIndexOf('/') + 1)..] : idOrArn;
        return _jobs.GetValueOrDefault(id);
    }

    private bool Lagging(Job job) => ListingLag > TimeSpan.Zero && Clock() - job.CreatedAt < ListingLag.TotalMilliseconds;

    /// <summary>Members in the model's order, absent ones left out.</summary>
    private JsonObject Ordered(string shapeName, Dictionary<string, JsonNode?> members)
    {
        var result = new JsonObject();
        foreach (var name in Model[shapeName].MembersByWire.Keys)
        {
            if (members.TryGetValue(name, out var value) && value is not null)
            {
                result[name] = value;
            }
        }
        return result;
    }

    private JsonObject? LatestAttempt(Job job) => job.Attempts.Count == 0 ? null : new JsonObject
    {
        ["serviceResourceId"] = ResourceId(job.Attempts[^1]),
    };

    private static JsonObject ResourceId(Attempt attempt) => new() { ["name"] = "TrainingJobArn", ["value"] = attempt.TrainingJobArn };

    /// <summary>[inference] capacityUsage from the payload's ResourceConfig once SageMaker has the job (as faiscadev/fakecloud does).</summary>
    private static JsonArray? CapacityUsage(Job job)
    {
        if (job.ScheduledAt is null)
        {
            return null;
        }
        try
        {
            if (JsonNode.Parse((string)job.Request["serviceRequestPayload"]!)?["ResourceConfig"] is JsonObject config
                && config["InstanceType"] is JsonValue type && config["InstanceCount"] is JsonValue count)
            {
                return new JsonArray(new JsonObject { ["capacityUnit"] = type.ToString(), ["quantity"] = count.GetValue<double>() });
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
        }
        return null;
    }

    private JsonObject DescribeOf(Job job)
    {
        var r = job.Request;
        JsonNode? retry = null;
        if (r["retryStrategy"] is JsonObject given)
        {
            // The User Guide's describe example echoes "evaluateOnExit": [] for a job submitted with attempts only.
            var copy = given.DeepClone().AsObject();
            copy["evaluateOnExit"] ??= new JsonArray();
            retry = Ordered("ServiceJobRetryStrategy", copy.ToDictionary(p => p.Key, p => p.Value?.DeepClone()));
        }
        return Ordered("DescribeServiceJobResponse", new()
        {
            ["attempts"] = new JsonArray(job.Attempts.Select(a => (JsonNode)Ordered("ServiceJobAttemptDetail", new()
            {
                ["serviceResourceId"] = ResourceId(a),
                ["startedAt"] = a.StartedAt,
                ["stoppedAt"] = a.StoppedAt,
                ["statusReason"] = a.StatusReason,
            })).ToArray()),
            ["capacityUsage"] = CapacityUsage(job),
            ["createdAt"] = job.CreatedAt,
            ["isTerminated"] = job.IsTerminated ? true : null,
            ["jobArn"] = job.Arn,
            ["jobId"] = job.Id,
            ["jobName"] = job.Name,
            ["jobQueue"] = job.Queue.Arn,
            ["latestAttempt"] = LatestAttempt(job),
            ["retryStrategy"] = retry,
            ["scheduledAt"] = job.ScheduledAt,
            ["schedulingPriority"] = r["schedulingPriority"]?.DeepClone(),
            ["serviceRequestPayload"] = r["serviceRequestPayload"]?.DeepClone(),
            ["serviceJobType"] = r["serviceJobType"]?.DeepClone(),
            ["preemptionConfiguration"] = r["preemptionConfiguration"]?.DeepClone(),
            // The model marks startedAt required, yet a job that has not started has no start: what AWS sends then is
            // not documented; the stand-in leaves it out until RUNNING, so a reader must not count on it.
            ["startedAt"] = job.StartedAt,
            ["status"] = job.Status,
            ["statusReason"] = job.StatusReason,
            ["stoppedAt"] = job.StoppedAt,
            // The User Guide's describe example shows "tags": {} for a job submitted without tags.
            ["tags"] = r["tags"]?.DeepClone() ?? new JsonObject(),
            ["timeoutConfig"] = r["timeoutConfig"]?.DeepClone(),
        });
    }

    private JsonObject SummaryOf(Job job) => Ordered("ServiceJobSummary", new()
    {
        ["latestAttempt"] = LatestAttempt(job),
        ["capacityUsage"] = CapacityUsage(job),
        ["createdAt"] = job.CreatedAt,
        ["jobArn"] = job.Arn,
        ["jobId"] = job.Id,
        ["jobName"] = job.Name,
        ["scheduledAt"] = job.ScheduledAt,
        ["serviceJobType"] = job.Request["serviceJobType"]?.DeepClone(),
        ["status"] = job.Status,
        ["statusReason"] = job.StatusReason,
        ["startedAt"] = job.StartedAt,
        ["stoppedAt"] = job.StoppedAt,
    });

    // ---- the four operations -------------------------------------------------------------------------------------

    private sealed class Refusal(string message) : Exception(message);

    private (int Status, JsonObject Body) Answer(string operation, string region, byte[] body)
    {
        JsonObject request;
        try
        {
            request = JsonNode.Parse(body.Length == 0 ? "{}"u8 : body) as JsonObject ?? throw new Refusal("The request body must be a JSON object.");
        }
        catch (JsonException e)
        {
            throw new Refusal($"The request body is not valid JSON: {e.Message}");
        }
        Check(request, Model[operation + "Request"], "");
        lock (_gate)
        {
            return operation switch
            {
                "SubmitServiceJob" => (200, Submit(request, region)),
                "DescribeServiceJob" => (200, DescribeRequest(request)),
                "TerminateServiceJob" => (200, Terminate(request)),
                _ => (200, List(request, region)),
            };
        }
    }

    private JsonObject Submit(JsonObject request, string region)
    {
        var name = (string)request["jobName"]!;
        if (name.Length > 128 || !Regex.IsMatch(name, "^[A-Za-z0-9_-]+$"))
        {
            throw new Refusal($"jobName '{name}' is not valid: it must be 1 to 128 letters, numbers, hyphens (-) and underscores (_).");
        }
        if (request["schedulingPriority"] is JsonValue priority && priority.GetValue<int>() is < 0 or > 9999)
        {
            throw new Refusal($"schedulingPriority {priority} is not valid: it must be between 0 and 9999.");
        }
        if (request["retryStrategy"] is JsonObject retry)
        {
            var attempts = retry["attempts"]!.GetValue<int>();
            if (attempts is < 1 or > 10)
            {
                throw new Refusal($"retryStrategy.attempts {attempts} is not valid: it must be between 1 and 10.");
            }
            if (retry["evaluateOnExit"] is JsonArray conditions)
            {
                if (conditions.Count > 5)
                {
                    throw new Refusal($"retryStrategy.evaluateOnExit has {conditions.Count} conditions: at most 5 are allowed.");
                }
                foreach (var condition in conditions)
                {
                    if (condition?["onStatusReason"] is JsonValue reason && ((string)reason!).Length > 512)
                    {
                        throw new Refusal("retryStrategy.evaluateOnExit.onStatusReason is longer than 512 characters.");
                    }
                }
            }
        }
        var queueRef = (string)request["jobQueue"]!;
        var queue = QueueOf(queueRef, region) ?? throw new Refusal($"Job queue {queueRef} does not exist.");
        if (queue.Type != (string)request["serviceJobType"]!)
        {
            throw new Refusal($"Job queue {queueRef} has the type {queue.Type}: a {request["serviceJobType"]} service job needs a queue of the type SAGEMAKER_TRAINING.");
        }
        if (request.ContainsKey("shareIdentifier"))
        {
            throw new Refusal($"shareIdentifier must not be specified: job queue {queueRef} has no fair-share scheduling policy.");
        }
        if (request.ContainsKey("quotaShareName"))
        {
            throw new Refusal($"quotaShareName must not be specified: job queue {queueRef} has no quota share scheduling policy.");
        }
        if (request["clientToken"] is JsonValue tokenValue)
        {
            // Model doc: "If this parameter is specified and two submit requests with identical payloads and clientTokens
            // are received, these requests are considered the same request and the second request is rejected." What the
            // rejection looks like (code, message, whether it names the first job, the token's lifetime, a different
            // payload under the same token) is not documented: here a ClientException naming the token, without the
            // job, for both, and the token is remembered for as long as the stand-in lives.
            var token = (string)tokenValue!;
            var key = $"{region}/{token}";
            var canonical = request.ToJsonString();
            if (_tokens.TryGetValue(key, out var earlier))
            {
                throw new Refusal(earlier.Request == canonical
                    ? $"A service job was already submitted with the idempotency token (clientToken) '{token}': the second request is rejected."
                    : $"The idempotency token (clientToken) '{token}' was already used by another SubmitServiceJob request with different parameters.");
            }
            var submitted = NewJob(request, region, queue);
            _tokens[key] = (canonical, submitted.Id);
            return SubmitAnswer(submitted);
        }
        return SubmitAnswer(NewJob(request, region, queue));
    }

    private JsonObject SubmitAnswer(Job job) => Ordered("SubmitServiceJobResponse", new()
    {
        ["jobArn"] = job.Arn, ["jobName"] = job.Name, ["jobId"] = job.Id,
    });

    private Job NewJob(JsonObject request, string region, Queue queue)
    {
        var id = Guid.NewGuid().ToString();
        var job = new Job
        {
            Id = id,
            Arn = $"arn:aws:batch:{region}:{Account}:service-job/{id}",
            Region = region,
            Queue = queue,
            Request = request.DeepClone().AsObject(),
            CreatedAt = Clock(),
        };
        _jobs[id] = job;
        return job;
    }

    private Queue? QueueOf(string nameOrArn, string region) =>
        _queues.GetValueOrDefault(nameOrArn.StartsWith("arn:", StringComparison.Ordinal) ? nameOrArn : $"arn:aws:batch:{region}:{Account}:job-queue/{nameOrArn}");

    private JsonObject DescribeRequest(JsonObject request)
    {
        var jobId = (string)request["jobId"]!;
        var job = Find(jobId);
        if (job is null || Lagging(job))
        {
            throw new Refusal($"Service job {jobId} does not exist.");
        }
        return DescribeOf(job);
    }

    private JsonObject Terminate(JsonObject request)
    {
        var jobId = (string)request["jobId"]!;
        var job = Find(jobId) ?? throw new Refusal($"Service job {jobId} does not exist.");
        if (!job.IsFinal)
        {
            // The model: isTerminated "Indicates whether the service job has been terminated"; the reason "is returned by
            // DescribeServiceJob operations on the service job". A terminated job ends FAILED (there is no STOPPED).
            var now = Clock();
            var reason = (string)request["reason"]!;
            EndAttempt(job, now, reason);
            job.Status = "FAILED";
            job.StatusReason = reason;
            job.StoppedAt = now;
            job.IsTerminated = true;
        }
        return new JsonObject();
    }

    private JsonObject List(JsonObject request, string region)
    {
        IEnumerable<Job> jobs = _jobs.Values.Where(j => j.Region == region && !Lagging(j));
        if (request["jobQueue"] is JsonValue queueRef)
        {
            var queue = QueueOf((string)queueRef!, region) ?? throw new Refusal($"Job queue {queueRef} does not exist.");
            jobs = jobs.Where(j => j.Queue == queue);
        }
        var maxResults = request["maxResults"] is JsonValue m ? m.GetValue<int>() : 100;
        if (maxResults is < 1 or > 100)
        {
            throw new Refusal($"maxResults {maxResults} is not valid: it must be between 1 and 100.");
        }
        if (request["filters"] is JsonArray { Count: > 0 } filters)
        {
            // "Only one filter can be used at a time"; with a filter, jobStatus is ignored (except SHARE_IDENTIFIER and
            // QUOTA_SHARE_NAME, which need queues the stand-in does not model).
            if (filters.Count > 1)
            {
                throw new Refusal("Only one filter can be used at a time.");
            }
            var filter = filters[0]!.AsObject();
            var name = (string?)filter["name"];
            var values = filter["values"] is JsonArray v ? v.Select(x => (string)x!).ToList() : [];
            if (values.Count != 1)
            {
                throw new Refusal($"Filter {name} takes exactly one value.");
            }
            var value = values[0];
            jobs = name switch
            {
                "JOB_NAME" => value.EndsWith('*')
                    ? jobs.Where(j => j.Name.StartsWith(value[..^1], StringComparison.OrdinalIgnoreCase))
                    : jobs.Where(j => j.Name.Equals(value, StringComparison.OrdinalIgnoreCase)),
                "BEFORE_CREATED_AT" => long.TryParse(value, out var before) ? jobs.Where(j => j.CreatedAt < before) : throw new Refusal($"BEFORE_CREATED_AT {value} is not a number of milliseconds."),
                "AFTER_CREATED_AT" => long.TryParse(value, out var after) ? jobs.Where(j => j.CreatedAt > after) : throw new Refusal($"AFTER_CREATED_AT {value} is not a number of milliseconds."),
                _ => throw new Refusal($"Filter name {name} is not supported: use JOB_NAME, BEFORE_CREATED_AT or AFTER_CREATED_AT."),
            };
        }
        else
        {
            // "If you don't specify a status, only RUNNING jobs are returned."
            var status = (string?)request["jobStatus"] ?? "RUNNING";
            jobs = jobs.Where(j => j.Status == status);
        }
        // "The results are sorted by the createdAt field, with the most recent jobs being first."
        var all = jobs.OrderByDescending(j => j.CreatedAt).ThenByDescending(j => j.Id, StringComparer.Ordinal).ToList();
        var start = 0;
        if (request["nextToken"] is JsonValue tokenValue)
        {
            try
            {
                start = int.Parse(Encoding.UTF8.GetString(Convert.FromBase64String((string)tokenValue!)), CultureInfo.InvariantCulture);
            }
            catch (FormatException)
            {
                throw new Refusal("nextToken is not valid.");
            }
        }
        var page = all.Skip(start).Take(maxResults).ToList();
        var answer = new JsonObject { ["jobSummaryList"] = new JsonArray(page.Select(j => (JsonNode)SummaryOf(j)).ToArray()) };
        if (start + page.Count < all.Count)
        {
            answer["nextToken"] = Convert.ToBase64String(Encoding.UTF8.GetBytes((start + page.Count).ToString(CultureInfo.InvariantCulture)));
        }
        return answer;
    }

    /// <summary>The request against its shape: members it has, required ones, JSON types, enums, min/max.</summary>
    private static void Check(JsonNode? node, Shape shape, string path)
    {
        var where = path.Length == 0 ? "the request" : path;
        if (node is null)
        {
            throw new Refusal($"{where} must not be null.");
        }
        switch (shape.Kind)
        {
            case ShapeKind.Structure:
                if (node is not JsonObject structure)
                {
                    throw new Refusal($"{where} must be an object ({shape.Name}).");
                }
                foreach (var (name, value) in structure)
                {
                    if (!shape.MembersByWire.TryGetValue(name, out var member))
                    {
                        throw new Refusal($"Unknown member '{Join(path, name)}': {shape.Name} has no such member.");
                    }
                    Check(value, member.Shape, Join(path, name));
                }
                foreach (var required in shape.Required)
                {
                    if (!structure.ContainsKey(required))
                    {
                        throw new Refusal($"{Join(path, required)} is required.");
                    }
                }
                break;
            case ShapeKind.List:
                if (node is not JsonArray list)
                {
                    throw new Refusal($"{where} must be a list.");
                }
                Length(list.Count, shape, where, "items");
                for (var i = 0; i < list.Count; i++)
                {
                    Check(list[i], shape.MemberShape!, $"{where}[{i}]");
                }
                break;
            case ShapeKind.Map:
                if (node is not JsonObject map)
                {
                    throw new Refusal($"{where} must be a map.");
                }
                Length(map.Count, shape, where, "entries");
                foreach (var (key, value) in map)
                {
                    Check(JsonValue.Create(key), shape.KeyShape!, $"{where} key '{key}'");
                    Check(value, shape.ValueShape!, $"{where}.{key}");
                }
                break;
            case ShapeKind.String:
                if (node is not JsonValue s || s.GetValueKind() != JsonValueKind.String)
                {
                    throw new Refusal($"{where} must be a string.");
                }
                var text = s.GetValue<string>();
                Length(text.Length, shape, where, "characters");
                if (shape.Enum is { } values && !values.Contains(text))
                {
                    throw new Refusal($"{where} '{text}' is not valid: it must be one of {string.Join(", ", values)}.");
                }
                break;
            case ShapeKind.Integer or ShapeKind.Long:
                if (node is not JsonValue n || n.GetValueKind() != JsonValueKind.Number
                    || !(shape.Kind == ShapeKind.Integer ? n.TryGetValue<int>(out _) : n.TryGetValue<long>(out _)))
                {
                    throw new Refusal($"{where} must be an {(shape.Kind == ShapeKind.Integer ? "integer" : "long integer")}.");
                }
                break;
            case ShapeKind.Double or ShapeKind.Float:
                if (node is not JsonValue d || d.GetValueKind() != JsonValueKind.Number)
                {
                    throw new Refusal($"{where} must be a number.");
                }
                break;
            case ShapeKind.Boolean:
                if (node is not JsonValue b || b.GetValueKind() is not (JsonValueKind.True or JsonValueKind.False))
                {
                    throw new Refusal($"{where} must be true or false.");
                }
                break;
            default:
                throw new Refusal($"{where}: the stand-in does not check {shape.Kind} members.");
        }
    }

    private static void Length(int length, Shape shape, string where, string unit)
    {
        if (shape.Min is { } min && length < min)
        {
            throw new Refusal($"{where} has {length} {unit}: at least {min} are required.");
        }
        if (shape.Max is { } max && length > max)
        {
            throw new Refusal($"{where} has {length} {unit}: at most {max} are allowed.");
        }
    }

    private static string Join(string path, string name) => path.Length == 0 ? name : $"{path}.{name}";

    // ---- HTTP ----------------------------------------------------------------------------------------------------

    private Task AcceptAsync() => RawHttp.AcceptAsync(_listener, HandleAsync, _stop.Token);

    private Task HandleAsync(TcpClient client) => RawHttp.ServeAsync(client, async (stream, request) =>
    {
        if (request.Method == "POST" && Operations.TryGetValue(request.Path.Split('?')[0].TrimEnd('/'), out var operation))
        {
            _calls.AddOrUpdate(operation, 1, (_, n) => n + 1);
            int status;
            JsonObject body;
            List<(string, string)> headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", Guid.NewGuid().ToString())];
            try
            {
                (status, body) = Answer(operation, RegionOf(request.Headers.GetValueOrDefault("Authorization")), request.Body);
            }
            catch (Refusal refusal)
            {
                status = 400;
                body = new JsonObject { ["__type"] = "ClientException", ["message"] = refusal.Message };
                headers.Add(("X-Amzn-ErrorType", "ClientException"));
            }
            catch (Exception e)
            {
                // A bug of the stand-in, answered as Batch's ServerException (500) so the test sees it.
                status = 500;
                body = new JsonObject { ["__type"] = "ServerException", ["message"] = $"ServiceJobs stand-in: {e.GetType().Name}: {e.Message}" };
                headers.Add(("X-Amzn-ErrorType", "ServerException"));
            }
            if (operation == "SubmitServiceJob" && status == 200 && Interlocked.Decrement(ref _dropAfterSubmit) >= 0)
            {
                client.Client.LingerState = new LingerOption(true, 0);
                client.Client.Close();
                return;
            }
            await RawHttp.WriteAsync(stream, status, headers, Encoding.UTF8.GetBytes(body.ToJsonString())).ConfigureAwait(false);
            return;
        }
        _calls.AddOrUpdate("forwarded", 1, (_, n) => n + 1);
        if (request.Headers.TryGetValue("X-Amz-Target", out var target) && target.StartsWith("AWSStepFunctions.SendTask", StringComparison.Ordinal))
        {
            _answers.Enqueue((target["AWSStepFunctions.".Length..], JsonNode.Parse(request.Body)!.AsObject()));
        }
        await RawHttp.RelayAsync(stream, _upstream, _target, request).ConfigureAwait(false);
    });

    /// <summary>The region of the SigV4 credential scope (<c>Credential=AKID/date/region/service/aws4_request</c>).</summary>
    private static string RegionOf(string? authorization)
    {
        var start = authorization?.IndexOf("Credential=", StringComparison.Ordinal) ?? -1;
        if (start < 0)
        {
            return "us-east-1";
        }
        var scope = authorization![(start + "Credential=".Length)..].Split(',')[0].Split('/');
        return scope.Length >= 3 ? scope[2] : "us-east-1";
    }
}
