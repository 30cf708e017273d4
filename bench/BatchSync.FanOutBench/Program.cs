using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using BatchSync.Aws;
using BatchSync.LocalWorld;
using BatchSync.Processing;
using BatchSync.Domain;

// A fan-out: N tasks start at once (a Map), each invoking SubmitJob. Lambda runs at most --concurrency invocations
// (SubmitJob's reserved concurrency; beyond it Lambda.TooManyRequestsException), Batch takes --rate submits per second
// (a token bucket; beyond it 429 TooManyRequestsException), and Step Functions retries a failed attempt with a new
// token as the README's fan-out Retry says (IntervalSeconds 2, BackoffRate 2, MaxDelaySeconds 60, full jitter,
// MaxAttempts --max-attempts, 20). SubmitJob runs for real: its record in the template's table on moto, its Batch calls through the real
// client and transport (throttled calls wait their turn inside the budget) to an in-process Batch with that bucket.
// Counted: jobs Batch created, jobs per task, tasks failed, throttles, time against the floor N / rate.
// `--smoke` runs 300 tasks at 15 submits per second.
var smoke = args.Contains("--smoke");
var tasksCount = Arg("--tasks", smoke ? 300 : 10_000);
var rate = Arg("--rate", smoke ? 15 : 50);
var concurrency = Arg("--concurrency", 100);
var maxAttempts = Arg("--max-attempts", 20);
BatchSync.Logging.Log.Sink = TextWriter.Null;
Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", Environment.GetEnvironmentVariable("AWS_ACCESS_KEY_ID") ?? "bench");
Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", Environment.GetEnvironmentVariable("AWS_SECRET_ACCESS_KEY") ?? "bench");

using var moto = new MotoServer();
moto.UseSimpleModes();
var world = new AwsWorld(moto, "us-east-1", "fanout");
await world.CreateTableFromTemplateAsync();
var store = world.PatientStore(TimeSpan.FromSeconds(30));
var batchService = new BucketBatch(rate);
var batch = new BatchClient(new AwsTransport(new HttpClient(batchService), new Uri("http://batch.local/"), BatchClient.ServiceName, RetryPolicy.Default));
var stepFunctions = new AnsweringTasks();
var submitter = new JobSubmitter(batch, stepFunctions, store, "fanout", TimeProvider.System);
var lambda = new SemaphoreSlim(concurrency);
var budget = TimeSpan.FromSeconds(50);

int lambdaThrottles = 0, attemptsFailed = 0, tasksFailed = 0;
var watch = Stopwatch.StartNew();
await Task.WhenAll(Enumerable.Range(0, tasksCount).Select(i => Task.Run(async () =>
{
    for (var attempt = 1; ; attempt++)
    {
        Exception? failure = null;
        if (!lambda.Wait(0))
        {
            Interlocked.Increment(ref lambdaThrottles);
            failure = new InvalidOperationException("Lambda.TooManyRequestsException");
        }
        else
        {
            try
            {
                using var deadline = new CancellationTokenSource(budget);
                using var _ = InvocationBudget.Start(budget, TimeProvider.System);
                var payload = Encoding.UTF8.GetBytes(new JsonObject
                {
                    ["JobName"] = $"fan-{i}", ["JobQueue"] = "q", ["JobDefinition"] = "d", ["TaskToken"] = $"fanout-{i}-attempt-{attempt}",
                }.ToJsonString());
                await submitter.SubmitAsync(payload, deadline.Token);
            }
            catch (Exception e) when (e is TransientFailureException || DependencyFailures.IsDependencyFailure(e))
            {
                failure = e;
            }
            finally
            {
                lambda.Release();
            }
        }
        if (failure is null)
        {
            return;
        }
        Interlocked.Increment(ref attemptsFailed);
        if (attempt >= maxAttempts)
        {
            Interlocked.Increment(ref tasksFailed);
            return;
        }
        var ceiling = Math.Min(60, 2 * Math.Pow(2, attempt - 1));
        await Task.Delay(TimeSpan.FromSeconds(Random.Shared.NextDouble() * ceiling));
    }
}))).ConfigureAwait(false);
watch.Stop();

var jobsPerTask = batchService.Jobs.GroupBy(j => j.Value).Select(g => g.Count()).ToList();
var report = new JsonObject
{
    ["tasks"] = tasksCount,
    ["submitsPerSecond"] = rate,
    ["lambdaConcurrency"] = concurrency,
    ["retryMaxAttempts"] = maxAttempts,
    ["seconds"] = Math.Round(watch.Elapsed.TotalSeconds, 1),
    ["floorSeconds"] = Math.Round((double)tasksCount / rate, 1),
    ["timesTheFloor"] = Math.Round(watch.Elapsed.TotalSeconds / ((double)tasksCount / rate), 2),
    ["jobsCreated"] = batchService.Jobs.Count,
    ["tasksWithAJob"] = jobsPerTask.Count,
    ["tasksWithMoreThanOneJob"] = jobsPerTask.Count(n => n > 1),
    ["tasksFailed"] = tasksFailed,
    ["attemptsFailed"] = attemptsFailed,
    ["lambdaThrottles"] = lambdaThrottles,
    ["batchThrottles"] = batchService.Throttled,
    ["tasksAnsweredWithAFailure"] = stepFunctions.Failures,
};
Directory.CreateDirectory("artifacts");
File.WriteAllText(Path.Combine("artifacts", smoke ? "fanout-bench-smoke.json" : "fanout-bench.json"), report.ToJsonString(new() { WriteIndented = true }));
Console.WriteLine(report.ToJsonString());
return batchService.Jobs.Count == tasksCount && jobsPerTask.All(n => n == 1) && tasksFailed == 0 && stepFunctions.Failures == 0 ? 0 : 1;

int Arg(string name, int fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}

/// <summary>Batch's SubmitJob behind a token bucket of <c>rate</c> per second (burst: one second's worth).</summary>
sealed class BucketBatch(int rate) : HttpMessageHandler
{
    private readonly object _gate = new();
    private double _tokens = rate;
    private long _refilled = Stopwatch.GetTimestamp();
    public ConcurrentDictionary<string, string> Jobs { get; } = new();
    public int Throttled;

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var body = JsonNode.Parse(await request.Content!.ReadAsStringAsync(cancellationToken))!;
        bool allowed;
        lock (_gate)
        {
            var now = Stopwatch.GetTimestamp();
            _tokens = Math.Min(rate, _tokens + Stopwatch.GetElapsedTime(_refilled, now).TotalSeconds * rate);
            _refilled = now;
            allowed = _tokens >= 1;
            if (allowed)
            {
                _tokens -= 1;
            }
        }
        if (!allowed)
        {
            Interlocked.Increment(ref Throttled);
            return new HttpResponseMessage(HttpStatusCode.TooManyRequests)
            {
                Content = new StringContent("""{"__type":"TooManyRequestsException","message":"Too Many Requests"}"""),
            };
        }
        var id = Guid.NewGuid().ToString();
        Jobs[id] = (string)body["jobName"]!;
        return new HttpResponseMessage(HttpStatusCode.OK)
        {
            Content = new StringContent(new JsonObject { ["jobArn"] = $"arn:aws:batch:us-east-1:123456789012:job/{id}", ["jobId"] = id, ["jobName"] = (string)body["jobName"]! }.ToJsonString()),
        };
    }
}

/// <summary>Step Functions' side: counts failures sent to tasks (a fan-out must fail none).</summary>
sealed class AnsweringTasks : IStepFunctionsApi
{
    public int Failures;
    public Task<TaskReply> SendTaskSuccessAsync(string taskToken, string output, CancellationToken cancellationToken = default) => Task.FromResult(TaskReply.Accepted);
    public Task<TaskReply> SendTaskFailureAsync(string taskToken, string error, string cause, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref Failures);
        return Task.FromResult(TaskReply.Accepted);
    }
    public Task<TaskReply> SendTaskHeartbeatAsync(string taskToken, CancellationToken cancellationToken = default) => Task.FromResult(TaskReply.Accepted);
}
