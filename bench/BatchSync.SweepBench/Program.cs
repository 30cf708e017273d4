using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BatchSync.LocalWorld;
using BatchSync.Processing;
using BatchSync.Domain;

// The sweep at scale: N open tasks in the template's table on moto (DynamoDB through the real client and the real
// store), Step Functions and Batch DescribeJobs played in-process with the latencies the issue names (20 ms a
// SendTask* call, 100 ms a DescribeJobs). All records start due; a share of the jobs ended without their event ("lost
// outcomes"). Sweeps run every 5 simulated minutes, each with the deployed 40 s budget in real time, until every
// record has been checked once. Counted: records checked per sweep and per real minute, when each lost outcome was
// delivered (in which sweep), calls made. `--smoke` runs 300 records. `--service` (ServiceSweep.cs): N records whose
// jobs are service jobs (DescribeServiceJob, one per call, the same 100 ms), then the same N as container jobs, `--sweeps`
// ticks each (default 3), and with `--mixed M` the N container records again with M service records in their table;
// the smoke runs 40 of each, one tick, before its container run.
var smoke = args.Contains("--smoke");
// --service: N due records whose jobs are service jobs, then the same N as container jobs (ServiceSweep.cs); the smoke
// runs a small one (--service-records, 40) before its container run.
var serviceMode = args.Contains("--service");
var records = Arg("--records", smoke ? 300 : serviceMode ? 1_000 : 10_000);
var lostShare = 0.02;
var sfnLatency = TimeSpan.FromMilliseconds(Arg("--sfn-ms", 20));
var describeLatency = TimeSpan.FromMilliseconds(Arg("--describe-ms", 100));
var concurrency = Arg("--concurrency", 16);
// Reconcile invocations per tick, each sweeping its part of the due index (the template's SweepInvocations, default 4).
var parts = Arg("--parts", 4);
// --store memory: the test world's fast in-memory store with a latency per call (--store-ms), for runs moto cannot hold.
var memory = args.Contains("memory");
var storeLatency = TimeSpan.FromMilliseconds(Arg("--store-ms", 5));
// --throttle P: that share (in percent) of Step Functions calls is throttled past its retries (the check fails).
var throttlePercent = Arg("--throttle", 0);
// --rate N: the sweep's Step Functions calls a second (the template's SweepCallsPerSecond, default 150).
var rate = Arg("--rate", 150);

BatchSync.Logging.Log.Sink = TextWriter.Null; // the functions' own log lines would drown the report
Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", Environment.GetEnvironmentVariable("AWS_ACCESS_KEY_ID") ?? "bench");
Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", Environment.GetEnvironmentVariable("AWS_SECRET_ACCESS_KEY") ?? "bench");
using var moto = memory ? null : new MotoServer();
moto?.UseSimpleModes();
IRecordStore dynamoStore, store;
if (moto is not null)
{
    var world = new AwsWorld(moto, "us-east-1", "sweepbench");
    await world.CreateTableFromTemplateAsync();
    dynamoStore = world.PatientStore(TimeSpan.FromSeconds(60));
    // moto copies every table of a TransactWriteItems call for its rollback (moto/dynamodb/models: transact_write_items,
    // copy.deepcopy), which at 10,000 items costs seconds a call; here the checked records are rescheduled with the same
    // conditional update one record a call, 16 at once. AWS takes 100 a transaction (the store's own path).
    store = new SingleUpdateReschedule(dynamoStore, world.Dynamo, world.TableName);
}
else
{
    dynamoStore = store = new MemoryStore(storeLatency);
}

JsonObject? serviceRun = null;
if (serviceMode || smoke)
{
    var serviceRecords = serviceMode ? records : Arg("--service-records", 40);
    serviceRun = await ServiceSweep.RunAsync(new ServiceSweep.Options(moto, memory ? storeLatency : null, serviceRecords, parts,
        Arg("--sweeps", serviceMode ? 3 : 1), sfnLatency, describeLatency, concurrency, rate, serviceMode ? Arg("--mixed", 0) : 0));
    Directory.CreateDirectory("artifacts");
    File.WriteAllText(Path.Combine("artifacts", "sweep-bench-service.json"), serviceRun.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    var service = serviceRun["service"]!;
    // Passed: every service record checked and every lost outcome delivered in the first sweep, one DescribeServiceJob
    // per checked record, nothing answered twice (full runs past the pacing's reach report and do not fail).
    var servicePassed = (int)service["checkedAtLeastOnce"]! == serviceRecords
        && (int)service["lostOutcomesDeliveredInSweep1"]! == (int)service["lostOutcomes"]!
        && (int)service["sweeps"]![0]!["describeServiceJobCalls"]! == (int)service["sweeps"]![0]!["checked"]!
        && (int)service["secondAnswers"]! == 0 && (int)serviceRun["container"]!["secondAnswers"]! == 0;
    serviceRun["passed"] = servicePassed;
    if (serviceMode)
    {
        var summary = new JsonObject
        {
            ["records"] = records,
            ["parts"] = parts,
            ["serviceChecked"] = new JsonArray(service["sweeps"]!.AsArray().Select(r => (JsonNode?)(int)r!["checked"]!).ToArray()),
            ["describeServiceJobCalls"] = service["describeServiceJobCalls"]!.DeepClone(),
            ["maxDescribeServiceJobIn1s"] = service["sweeps"]!.AsArray().Max(r => (int)r!["maxDescribeServiceJobIn1s"]!),
            ["serviceLostDelivered"] = $"{service["lostOutcomesDelivered"]} of {service["lostOutcomes"]}",
            ["containerChecked"] = serviceRun["container"]!["sweeps"]![0]!["checked"]!.DeepClone(),
            ["describeJobsCalls"] = serviceRun["container"]!["sweeps"]![0]!["describeJobsCalls"]!.DeepClone(),
            ["containerLostDelivered"] = $"{serviceRun["container"]!["lostOutcomesDelivered"]} of {serviceRun["container"]!["lostOutcomes"]}",
            ["passed"] = servicePassed,
        };
        if (serviceRun["mixed"] is { } mixed)
        {
            summary["mixedContainerChecked"] = new JsonArray(mixed["sweeps"]!.AsArray().Select(r => (JsonNode?)(int)r!["containerTasksCalled"]!).ToArray());
            summary["mixedServiceChecked"] = new JsonArray(mixed["sweeps"]!.AsArray().Select(r => (JsonNode?)(int)r!["serviceTasksCalled"]!).ToArray());
        }
        Console.WriteLine(summary.ToJsonString());
        return args.Contains("--report-only") || servicePassed ? 0 : 1;
    }
    Console.WriteLine($"service smoke: {serviceRun["service"]!["sweeps"]![0]!.ToJsonString()}");
    if (!servicePassed)
    {
        Console.Error.WriteLine("FAILED: the service-job sweep did not check every record with one DescribeServiceJob each and deliver every lost outcome in its first sweep");
        return 1;
    }
}

var start = DateTimeOffset.UtcNow;
var rng = new Random(20261125);
var lost = new HashSet<string>();
var seeding = Stopwatch.StartNew();
await Parallel.ForEachAsync(Enumerable.Range(0, records), new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (i, _) =>
{
    var token = $"bench-token-{i}";
    await dynamoStore.TryCreateAsync(new TaskRecord
    {
        TaskKey = TaskKey.For(token), TaskToken = token, Status = RecordStatus.Submitted, JobId = $"job-{i}", JobName = "bench", JobQueue = "q",
        CreatedAt = (start - TimeSpan.FromMinutes(5 + (i * 7919 % 1440))).ToUnixTimeMilliseconds(),
        UpdatedAt = start.ToUnixTimeMilliseconds(), NextCheckAt = start.ToUnixTimeMilliseconds(),
    });
});
for (var i = 0; i < records; i++)
{
    if (rng.NextDouble() < lostShare)
    {
        lost.Add($"job-{i}");
    }
}
Console.WriteLine($"seeded {records} open records in {seeding.Elapsed.TotalSeconds:0.0} s; {lost.Count} jobs ended with their events lost");

var batch = new SlowBatch(describeLatency, lost);
var tasks = new SlowTasks(sfnLatency, throttlePercent);
var clock = new SimulatedClock(start);
var reconciler = new Reconciler(batch, tasks, store, "sweepbench", clock) { Concurrency = concurrency, SweepCallsPerSecond = rate, InvocationBudget = TimeSpan.FromSeconds(50) };
var deliveredInSweep = new Dictionary<string, int>();
var rows = new List<JsonObject>();
var checkedOnce = new HashSet<string>();
var failedInvocations = 0;
for (var sweep = 1; sweep <= 30 && checkedOnce.Count < records; sweep++)
{
    clock.Now = start + TimeSpan.FromMinutes(5 * (sweep - 1));
    tasks.Heartbeats.Clear();
    var before = tasks.Answered.Count;
    var watch = Stopwatch.StartNew();
    var invocations = await Task.WhenAll(Enumerable.Range(1, parts).Select(async part =>
    {
        var own = Stopwatch.StartNew();
        // The deployed function's deadline (FunctionHost: BATCHSYNC_INVOCATION_BUDGET_SECONDS, 50): an invocation
        // still running then is cancelled, and one that throws is a failed invocation that reports nothing.
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(50));
        try
        {
            var swept = await reconciler.SweepAsync(new SweepRequest(part, parts), deadline.Token);
            return (Answer: swept, Seconds: own.Elapsed.TotalSeconds);
        }
        catch (OperationCanceledException)
        {
            Interlocked.Increment(ref failedInvocations);
            return (Answer: new ReconcileResponse("Failed"), Seconds: own.Elapsed.TotalSeconds);
        }
    }));
    watch.Stop();
    var examined = invocations.Sum(i => i.Answer.Examined);
    foreach (var token in tasks.Heartbeats.Keys.Concat(tasks.Answered.Keys))
    {
        checkedOnce.Add(token);
    }
    foreach (var token in tasks.Answered.Keys)
    {
        deliveredInSweep.TryAdd(token, sweep);
    }
    var row = new JsonObject
    {
        ["sweep"] = sweep,
        ["checked"] = examined,
        ["delivered"] = tasks.Answered.Count - before,
        ["errors"] = invocations.Sum(i => i.Answer.Errors),
        ["seconds"] = Math.Round(watch.Elapsed.TotalSeconds, 1),
        ["checkedPerMinute"] = Math.Round(examined / watch.Elapsed.TotalMinutes),
        ["checkedPerInvocationMinute"] = new JsonArray(invocations.Select(i => (JsonNode?)Math.Round(i.Answer.Examined / (i.Seconds / 60))).ToArray()),
        ["checkedSoFar"] = checkedOnce.Count,
    };
    rows.Add(row);
    Console.WriteLine(row.ToJsonString());
}

var lostTokens = lost.Select(id => $"bench-token-{id[4..]}").ToList();
var deliveredWithin2 = lostTokens.Count(t => deliveredInSweep.TryGetValue(t, out var s) && s <= 2);
var perMinute = rows.Where(r => (int)r["checked"]! > 0).Select(r => (double)r["checkedPerMinute"]!).OrderBy(x => x).ToList();
var report = new JsonObject
{
    ["records"] = records,
    ["store"] = memory ? $"in-memory, {storeLatency.TotalMilliseconds} ms a call" : "moto",
    ["throttledPercent"] = throttlePercent,
    ["sweepCallsPerSecond"] = rate,
    ["checksFailed"] = rows.Sum(r => (int)r["errors"]!),
    ["failedInvocations"] = failedInvocations,
    ["sfnLatencyMs"] = sfnLatency.TotalMilliseconds,
    ["describeLatencyMs"] = describeLatency.TotalMilliseconds,
    ["concurrency"] = concurrency,
    ["invocationsPerSweep"] = parts,
    ["sweepsUntilEveryRecordWasChecked"] = checkedOnce.Count >= records ? rows.Count : null,
    ["medianCheckedPerMinute"] = perMinute.Count == 0 ? 0 : perMinute[perMinute.Count / 2],
    ["lostOutcomes"] = lostTokens.Count,
    ["lostOutcomesDeliveredWithin2Sweeps"] = deliveredWithin2,
    ["secondAnswers"] = tasks.SecondAnswers,
    ["describeJobsCalls"] = batch.DescribeCalls,
    ["sweeps"] = new JsonArray(rows.Select(r => (JsonNode?)r).ToArray()),
};
if (serviceRun is not null)
{
    // The smoke's service run, in short (after the container figures, so the line's start reads as before).
    var s1 = serviceRun["service"]!["sweeps"]![0]!;
    report["serviceSmoke"] = new JsonObject
    {
        ["records"] = serviceRun["records"]!.DeepClone(),
        ["checked"] = s1["checked"]!.DeepClone(),
        ["describeServiceJobCalls"] = s1["describeServiceJobCalls"]!.DeepClone(),
        ["maxDescribeServiceJobIn1s"] = s1["maxDescribeServiceJobIn1s"]!.DeepClone(),
        ["lostOutcomesDelivered"] = $"{serviceRun["service"]!["lostOutcomesDelivered"]} of {serviceRun["service"]!["lostOutcomes"]}",
        ["containerDescribeJobsCalls"] = serviceRun["container"]!["sweeps"]![0]!["describeJobsCalls"]!.DeepClone(),
        ["passed"] = serviceRun["passed"]!.DeepClone(),
    };
}
Directory.CreateDirectory("artifacts");
File.WriteAllText(Path.Combine("artifacts", "sweep-bench.json"), report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
Console.WriteLine(report.ToJsonString());
if ((!args.Contains("--report-only") && deliveredWithin2 != lostTokens.Count) || tasks.SecondAnswers != 0 || checkedOnce.Count < records)
{
    Console.Error.WriteLine("FAILED: not every lost outcome was delivered within 2 sweeps, a task was answered twice, or a record was never checked");
    return 1;
}
return 0;

int Arg(string name, int fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}

/// <summary>The store, rescheduling with single conditional updates instead of transactions (see above).</summary>
sealed class SingleUpdateReschedule(BatchSync.Domain.IRecordStore inner, Amazon.DynamoDBv2.IAmazonDynamoDB dynamo, string table) : BatchSync.Domain.IRecordStore
{
    public Task RescheduleAsync(IReadOnlyList<ScheduledCheck> checks, CancellationToken cancellationToken = default) =>
        Parallel.ForEachAsync(checks, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken }, async (check, token) =>
        {
            try
            {
                await dynamo.UpdateItemAsync(new Amazon.DynamoDBv2.Model.UpdateItemRequest
                {
                    TableName = table,
                    Key = new() { ["TaskKey"] = new Amazon.DynamoDBv2.Model.AttributeValue { S = check.TaskKey } },
                    UpdateExpression = "SET NextCheckAt = :next, CheckFailures = :failures",
                    ConditionExpression = "attribute_exists(TaskKey)",
                    ExpressionAttributeValues = new()
                    {
                        [":next"] = new Amazon.DynamoDBv2.Model.AttributeValue { N = check.NextCheckAt.ToString(CultureInfo.InvariantCulture) },
                        [":failures"] = new Amazon.DynamoDBv2.Model.AttributeValue { N = check.Failures.ToString(CultureInfo.InvariantCulture) },
                    },
                }, token);
            }
            catch (Amazon.DynamoDBv2.Model.ConditionalCheckFailedException)
            {
            }
        });

    public Task<bool> TryCreateAsync(TaskRecord record, CancellationToken cancellationToken = default) => inner.TryCreateAsync(record, cancellationToken);
    public Task<TaskRecord?> GetAsync(string taskKey, CancellationToken cancellationToken = default) => inner.GetAsync(taskKey, cancellationToken);
    public Task<TaskRecord?> FindByJobIdAsync(string jobId, CancellationToken cancellationToken = default) => inner.FindByJobIdAsync(jobId, cancellationToken);
    public Task<bool> TryTakeLeaseAsync(string taskKey, SubmitState seen, string leaseId, long leaseUntil, long now, CancellationToken cancellationToken = default) => inner.TryTakeLeaseAsync(taskKey, seen, leaseId, leaseUntil, now, cancellationToken);
    public Task<bool> ReleaseLeaseAsync(string taskKey, string leaseId, SubmitState state, string reason, CancellationToken cancellationToken = default) => inner.ReleaseLeaseAsync(taskKey, leaseId, state, reason, cancellationToken);
    public Task<(AttachOutcome Outcome, TaskRecord? Record)> AttachJobAsync(string taskKey, SubmittedJob job, CancellationToken cancellationToken = default) => inner.AttachJobAsync(taskKey, job, cancellationToken);
    public Task<AnswerClaim> TryClaimAnswerAsync(string taskKey, string claimId, long claimUntil, long now, CancellationToken cancellationToken = default) => inner.TryClaimAnswerAsync(taskKey, claimId, claimUntil, now, cancellationToken);
    public Task ReleaseAnswerClaimAsync(string taskKey, string claimId, CancellationToken cancellationToken = default) => inner.ReleaseAnswerClaimAsync(taskKey, claimId, cancellationToken);
    public Task SetJobMissingSinceAsync(string taskKey, long? since, CancellationToken cancellationToken = default) => inner.SetJobMissingSinceAsync(taskKey, since, cancellationToken);
    public Task<IReadOnlyList<TaskRecord>> FindOpenByExecutionAsync(string executionArn, CancellationToken cancellationToken = default) => inner.FindOpenByExecutionAsync(executionArn, cancellationToken);
    public Task<IReadOnlyList<TaskRecord>> ListDueAsync(long dueBy, int limit, IReadOnlyList<string>? shards = null, CancellationToken cancellationToken = default) => inner.ListDueAsync(dueBy, limit, shards, cancellationToken);
    public Task<bool> SetResultAsync(string taskKey, string resultJson, CancellationToken cancellationToken = default) => inner.SetResultAsync(taskKey, resultJson, cancellationToken);
    public Task<bool> FinishAsync(string taskKey, RecordEnding ending, CancellationToken cancellationToken = default) => inner.FinishAsync(taskKey, ending, cancellationToken);
}

/// <summary>
/// DescribeJobs (up to 100 ids a call) and DescribeServiceJob (one id a call) with the same latency a call: RUNNING, or
/// SUCCEEDED for the jobs whose events were lost. Each DescribeServiceJob call's arrival is logged (a Stopwatch
/// timestamp), so the rate the sweep achieved is counted from what happened.
/// </summary>
sealed class SlowBatch(TimeSpan latency, HashSet<string> ended) : IBatchApi
{
    public Task<SubmittedJob> SubmitServiceJobAsync(byte[] requestBody, CancellationToken cancellationToken = default) => throw new NotSupportedException("the sweep submits nothing");

    /// <summary>When each DescribeServiceJob call arrived (Stopwatch timestamps).</summary>
    public ConcurrentQueue<long> ServiceDescribeCallTimes { get; } = new();

    public async Task<BatchJob?> DescribeServiceJobAsync(string jobId, CancellationToken cancellationToken = default)
    {
        ServiceDescribeCallTimes.Enqueue(Stopwatch.GetTimestamp());
        await Task.Delay(latency, cancellationToken);
        // A DescribeServiceJob answer's members (the official model's required ones and those the answers read).
        return BatchJob.Of(JsonDocument.Parse(new JsonObject
        {
            ["jobId"] = jobId, ["jobName"] = "bench", ["jobArn"] = $"arn:aws:batch:us-east-1:123456789012:service-job/{jobId}",
            ["jobQueue"] = "arn:aws:batch:us-east-1:123456789012:job-queue/q", ["serviceJobType"] = "SAGEMAKER_TRAINING",
            ["status"] = ended.Contains(jobId) ? "SUCCEEDED" : "RUNNING", ["createdAt"] = 1,
            ["latestAttempt"] = new JsonObject
            {
                ["serviceResourceId"] = new JsonObject { ["name"] = "TrainingJobArn", ["value"] = $"arn:aws:sagemaker:us-east-1:123456789012:training-job/AWSBatch{jobId}" },
            },
            ["tags"] = new JsonObject(),
        }.ToJsonString()).RootElement.Clone());
    }

    public Task TerminateServiceJobAsync(string jobId, string reason, CancellationToken cancellationToken = default) => Task.CompletedTask;
    public Task<JobPage> ListServiceJobsNamedAsync(string jobQueue, string jobName, string? nextToken, CancellationToken cancellationToken = default) =>
        Task.FromResult(new JobPage([], null));
    private int _describeCalls;
    public int DescribeCalls => _describeCalls;

    public Task<SubmittedJob> SubmitJobAsync(byte[] requestBody, CancellationToken cancellationToken = default) => throw new NotSupportedException();

    public async Task<IReadOnlyList<BatchJob>> DescribeJobsAsync(IReadOnlyList<string> jobIds, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _describeCalls);
        await Task.Delay(latency, cancellationToken);
        return jobIds.Select(id => JsonDocument.Parse(new JsonObject
        {
            ["jobId"] = id, ["jobName"] = "bench", ["jobArn"] = $"arn:aws:batch:us-east-1:123456789012:job/{id}",
            ["status"] = ended.Contains(id) ? "SUCCEEDED" : "RUNNING", ["createdAt"] = 1, ["jobQueue"] = "q", ["jobDefinition"] = "d",
        }.ToJsonString()).RootElement.Clone()).Select(BatchJob.Of).ToList();
    }

    public Task TerminateJobAsync(string jobId, string reason, CancellationToken cancellationToken = default) => Task.CompletedTask;

    public Task<JobPage> ListJobsNamedAsync(string jobQueue, string jobName, string? nextToken, CancellationToken cancellationToken = default) =>
        Task.FromResult(new JobPage([], null));

    public Task<JobPage> ListFailedChildrenAsync(string arrayJobId, int pageSize, string? nextToken, CancellationToken cancellationToken = default) =>
        Task.FromResult(new JobPage([], null));
}

/// <summary>Step Functions' task-token calls with a latency; a task takes one terminal answer.</summary>
sealed class SlowTasks(TimeSpan latency, int throttlePercent = 0) : IStepFunctionsApi
{
    private readonly Random _throttle = new(18);

    private void MaybeThrottle(string operation)
    {
        bool throttled;
        lock (_throttle)
        {
            throttled = _throttle.Next(100) < throttlePercent;
        }
        if (throttled)
        {
            throw new BatchSync.Aws.AwsServiceException("AWSStepFunctions", operation, System.Net.HttpStatusCode.BadRequest, "ThrottlingException", "Rate exceeded (bench)", "bench");
        }
    }

    public ConcurrentDictionary<string, int> Heartbeats { get; } = new();
    public ConcurrentDictionary<string, int> Answered { get; } = new();
    public int SecondAnswers => Answered.Values.Sum(n => n - 1);

    public async Task<TaskReply> SendTaskSuccessAsync(string taskToken, string output, CancellationToken cancellationToken = default) => await AnswerAsync(taskToken, cancellationToken);
    public async Task<TaskReply> SendTaskFailureAsync(string taskToken, string error, string cause, CancellationToken cancellationToken = default) => await AnswerAsync(taskToken, cancellationToken);

    public async Task<TaskReply> SendTaskHeartbeatAsync(string taskToken, CancellationToken cancellationToken = default)
    {
        await Task.Delay(latency, cancellationToken);
        MaybeThrottle("SendTaskHeartbeat");
        Heartbeats.AddOrUpdate(taskToken, 1, (_, n) => n + 1);
        return Answered.ContainsKey(taskToken) ? TaskReply.TaskClosed : TaskReply.Accepted;
    }

    private async Task<TaskReply> AnswerAsync(string taskToken, CancellationToken cancellationToken)
    {
        await Task.Delay(latency, cancellationToken);
        MaybeThrottle("SendTaskSuccess");
        return Answered.AddOrUpdate(taskToken, 1, (_, n) => n + 1) == 1 ? TaskReply.Accepted : TaskReply.TaskClosed;
    }
}

/// <summary>Simulated wall time for due times; real time for the sweep's budget.</summary>
sealed class SimulatedClock(DateTimeOffset start) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = start;
    public override DateTimeOffset GetUtcNow() => Now;
}

/// <summary>
/// The test world's fast in-memory store for runs moto cannot hold (100,000 records): the due index as a sorted scan,
/// each call waiting <c>latency</c> as DynamoDB's round trip would; only what the sweep calls.
/// </summary>
sealed class MemoryStore(TimeSpan latency) : IRecordStore
{
    private readonly Dictionary<string, TaskRecord> _records = new(StringComparer.Ordinal);
    private readonly object _gate = new();

    private Task Wait(CancellationToken token) => latency > TimeSpan.Zero ? Task.Delay(latency, token) : Task.CompletedTask;

    public async Task<bool> TryCreateAsync(TaskRecord record, CancellationToken cancellationToken = default)
    {
        lock (_gate) { return _records.TryAdd(record.TaskKey, record); }
    }

    public async Task<TaskRecord?> GetAsync(string taskKey, CancellationToken cancellationToken = default)
    {
        await Wait(cancellationToken);
        lock (_gate) { return _records.GetValueOrDefault(taskKey); }
    }

    public async Task<IReadOnlyList<TaskRecord>> ListDueAsync(long dueBy, int limit, IReadOnlyList<string>? shards = null, CancellationToken cancellationToken = default)
    {
        await Wait(cancellationToken);
        lock (_gate)
        {
            return _records.Values.Where(r => !r.IsFinished && (r.NextCheckAt ?? r.CreatedAt) <= dueBy && (shards is null || shards.Contains(DueShards.Of(r.TaskKey))))
                .OrderBy(r => r.NextCheckAt ?? r.CreatedAt).ThenBy(r => r.TaskKey, StringComparer.Ordinal).Take(limit).ToList();
        }
    }

    public async Task RescheduleAsync(IReadOnlyList<ScheduledCheck> checks, CancellationToken cancellationToken = default)
    {
        await Wait(cancellationToken);
        lock (_gate)
        {
            foreach (var check in checks)
            {
                if (_records.TryGetValue(check.TaskKey, out var r))
                {
                    _records[check.TaskKey] = r with { NextCheckAt = check.NextCheckAt, CheckFailures = check.Failures };
                }
            }
        }
    }

    public async Task<AnswerClaim> TryClaimAnswerAsync(string taskKey, string claimId, long claimUntil, long now, CancellationToken cancellationToken = default)
    {
        await Wait(cancellationToken);
        lock (_gate)
        {
            if (!_records.TryGetValue(taskKey, out var r) || r.IsFinished)
            {
                return new AnswerClaim(ClaimOutcome.Finished, r);
            }
            if (r.AnswerClaimUntil is { } until && until >= now)
            {
                return new AnswerClaim(ClaimOutcome.Held, r);
            }
            var claimed = r with { AnswerClaimId = claimId, AnswerClaimUntil = claimUntil };
            _records[taskKey] = claimed;
            return new AnswerClaim(r.AnswerClaimId is null ? ClaimOutcome.Claimed : ClaimOutcome.ClaimedAfterExpiredClaim, claimed);
        }
    }

    public async Task ReleaseAnswerClaimAsync(string taskKey, string claimId, CancellationToken cancellationToken = default)
    {
        await Wait(cancellationToken);
        lock (_gate)
        {
            if (_records.TryGetValue(taskKey, out var r) && r.AnswerClaimId == claimId)
            {
                _records[taskKey] = r with { AnswerClaimId = null, AnswerClaimUntil = null };
            }
        }
    }

    public async Task<bool> FinishAsync(string taskKey, RecordEnding ending, CancellationToken cancellationToken = default)
    {
        await Wait(cancellationToken);
        lock (_gate)
        {
            if (!_records.TryGetValue(taskKey, out var r) || r.IsFinished)
            {
                return false;
            }
            _records[taskKey] = r with { Status = ending.Status, Reason = ending.Reason, AnswerClaimId = null, AnswerClaimUntil = null };
            return true;
        }
    }

    public async Task SetJobMissingSinceAsync(string taskKey, long? since, CancellationToken cancellationToken = default)
    {
        await Wait(cancellationToken);
        lock (_gate)
        {
            if (_records.TryGetValue(taskKey, out var r))
            {
                _records[taskKey] = r with { JobMissingSince = since };
            }
        }
    }

    public Task<TaskRecord?> FindByJobIdAsync(string jobId, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    public Task<bool> TryTakeLeaseAsync(string taskKey, SubmitState seen, string leaseId, long leaseUntil, long now, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    public Task<bool> ReleaseLeaseAsync(string taskKey, string leaseId, SubmitState state, string reason, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    public Task<(AttachOutcome Outcome, TaskRecord? Record)> AttachJobAsync(string taskKey, SubmittedJob job, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    public Task<IReadOnlyList<TaskRecord>> FindOpenByExecutionAsync(string executionArn, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    public Task<bool> SetResultAsync(string taskKey, string resultJson, CancellationToken cancellationToken = default) => throw new NotSupportedException();
}
