using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BatchSync.Aws;
using BatchSync.Domain;
using BatchSync.Processing;
using BatchSync.SpokeBench;

// Serving many accounts (issue 20): tasks of N spoke accounts (some in the hub's region, some in another) and a
// same-account control group, driven through the real processors (JobSubmitter, JobEventProcessor, CallbackProcessor,
// the Reconciler's sweep) with the real SpokeRouter and SpokeCredentials, over simulated hours. Batch, the store and
// Step Functions are in-process fakes (a token answers only at its own account and region, from that account's
// credentials); STS counts every AssumeRole per role and issues 1 h credentials on the simulated clock. Each function
// is one warm instance (the sweep: one per part, `--parts`), with its own credentials cache, as Lambda keeps them.
// Counted, not asserted: AssumeRole calls per spoke and instance, the most in any 50 simulated minutes; Step Functions
// calls per task by operation and function (spoke vs same account); every call of each answering invocation.
// `--moto N` instead: N rounds of real executions on moto with the real STS client (MotoRun).
var smoke = args.Contains("--smoke");
var spokeCount = Arg("--spokes", smoke ? 4 : 10);
var taskCount = Arg("--tasks", smoke ? 80 : 1000);
var controlCount = Arg("--control", smoke ? 20 : 200);
var arrivalHours = Arg("--hours", smoke ? 2 : 3);
var parts = Arg("--parts", 4);
var seed = Arg("--seed", 20);
const string Hub = "123456789012", HubRegion = "us-east-1", OtherRegion = "eu-west-1", Ns = "spokebench";

BatchSync.Logging.Log.Sink = TextWriter.Null;
if (Arg("--moto", 0) is var motoRounds and > 0)
{
    var moto = await MotoRun.RunAsync(motoRounds);
    Directory.CreateDirectory("artifacts");
    File.WriteAllText(Path.Combine("artifacts", "spoke-bench-moto.json"), moto.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    Console.WriteLine(moto.ToJsonString());
    return (int)moto["succeeded"]! == (int)moto["executions"]! ? 0 : 1;
}
var start = new DateTimeOffset(2026, 1, 5, 6, 0, 0, TimeSpan.Zero);
var clock = new SimClock(start);
var storeCalls = new Counter();
var batchCalls = new Counter();
var store = new BatchSync.Tests.InMemoryRecordStore(storeCalls.Add, "DynamoDB");
var batch = new SimBatch(clock, batchCalls);
var sfn = new SimStepFunctions(seed);

// Spokes: the first 60 % in the hub's region (SubmitJob invoked directly), the rest in another (relayed through EventBridge).
var spokes = Enumerable.Range(0, spokeCount)
    .Select(i => (Account: $"2000000000{i:D2}", Region: i < (spokeCount * 6 + 9) / 10 ? HubRegion : OtherRegion)).ToList();
var tenancy = new Tenancy { HubAccount = Hub, HubRegion = HubRegion, TenantAccounts = spokes.Select(s => s.Account).ToHashSet() };

var instances = new List<Instance>();
Instance Warm(string name)
{
    var sts = new SimSts(clock, name);
    var credentials = new SpokeCredentials(sts, clock, Ns);
    var router = new SpokeRouter(new PlaceClient(sfn, Hub, HubRegion, null, name), tenancy, credentials,
        (region, c) => new PlaceClient(sfn, Hub, region, c, name));
    var instance = new Instance(name, sts, credentials, router);
    instances.Add(instance);
    return instance;
}
var submitter = new JobSubmitter(batch, Warm("SubmitJob").Router, store, Ns, clock) { Tenancy = tenancy };
var events = new JobEventProcessor(batch, Warm("JobStateChange").Router, store, Ns, clock);
var callbacks = new CallbackProcessor(batch, Warm("Callback").Router, store, Ns, clock) { Tenancy = tenancy };
var reconcilers = Enumerable.Range(1, parts).Select(p => new Reconciler(batch, Warm($"Reconcile-{p}").Router, store, Ns, clock)).ToList();

// The task lives: arrivals over --hours; jobs of 2-30 min (80 %), 30-120 min (15 %), 2-4 h (5 %); 10 % fail; 5 % of
// the final events are lost (the sweep delivers them); 20 % of the jobs call back a Result just before they end, and
// jobs over an hour send a Callback heartbeat every 30 min. The control group lives the same lives as every
// (tasks/control)-th spoke task, in the hub's own account and region.
var rng = new Random(seed);
var lives = Enumerable.Range(0, taskCount).Select(_ =>
{
    var arrival = TimeSpan.FromSeconds(rng.Next(arrivalHours * 3600));
    var roll = rng.NextDouble();
    var minutes = roll < 0.80 ? 2 + rng.NextDouble() * 28 : roll < 0.95 ? 30 + rng.NextDouble() * 90 : 120 + rng.NextDouble() * 120;
    return new Life(arrival, TimeSpan.FromMinutes(minutes), Succeeds: rng.NextDouble() >= 0.10, FinalEventLost: rng.NextDouble() < 0.05,
        CallsBackResult: rng.NextDouble() < 0.20);
}).ToList();
var tasks = new List<SimTask>();
for (var i = 0; i < taskCount; i++)
{
    var (account, region) = spokes[i % spokeCount];
    tasks.Add(new SimTask(tasks.Count, region == HubRegion ? "spoke, hub's region" : "spoke, other region", account, region, lives[i]));
}
// Each control task's twin: one spoke task per stretch of (tasks/control), the spokes taken in turn.
var step = Math.Max(1, taskCount / Math.Max(1, controlCount));
var twins = new HashSet<int>();
for (var j = 0; j < controlCount; j++)
{
    var twin = (j * step + j % Math.Min(step, spokeCount)) % taskCount;
    twins.Add(twin);
    tasks.Add(new SimTask(tasks.Count, "same account", Hub, HubRegion, lives[twin]));
}
foreach (var t in tasks)
{
    t.Token = sfn.Issue(t.Account, t.Region, t.Index);
    t.ExecutionArn = $"arn:aws:states:{t.Region}:{t.Account}:execution:nightly:run-{t.Index:D5}";
}

var queue = new PriorityQueue<Func<Task>, (DateTimeOffset, long)>();
long sequence = 0;
void At(DateTimeOffset when, Func<Task> action) => queue.Enqueue(action, (when, sequence++));
var invocations = new List<InvocationRow>();
var errors = new Counter();

long StsNow() => instances.Sum(i => (long)i.Sts.Count);

// One invocation of a function for one task: every call it made, counted by service.
async Task Invoke(string function, SimTask task, string what, Func<Task> body)
{
    var (s0, b0, f0, a0) = (storeCalls.Total, batchCalls.Total, sfn.Count, StsNow());
    try
    {
        await body();
    }
    catch (Exception e)
    {
        errors.Add($"{function}: {e.GetType().Name}");
    }
    invocations.Add(new InvocationRow(function, task.Group, what, storeCalls.Total - s0, batchCalls.Total - b0, sfn.Count - f0, StsNow() - a0));
}

foreach (var t in tasks)
{
    At(start + t.Life.Arrival, async () =>
    {
        var payload = new JsonObject
        {
            ["JobName"] = $"task-{t.Index}", ["JobQueue"] = t.Account == Hub ? "q" : $"{t.Account}-gpu",
            ["JobDefinition"] = t.Account == Hub ? "d:1" : $"{t.Account}-train:1", ["TaskToken"] = t.Token, ["ExecutionArn"] = t.ExecutionArn,
        };
        // A spoke in another region reaches SubmitJob through its relay rule: the payload in an EventBridge envelope.
        var body = t.Region == HubRegion ? payload : new JsonObject
        {
            ["version"] = "0", ["id"] = $"relay-{t.Index}", ["detail-type"] = "BatchSync SubmitJob", ["source"] = "batchsync.spoke",
            ["account"] = t.Account, ["region"] = t.Region, ["time"] = clock.Now.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
            ["resources"] = new JsonArray(), ["detail"] = payload,
        };
        SubmitJobResponse? response = null;
        await Invoke("SubmitJob", t, "submit", async () => response = await submitter.SubmitAsync(System.Text.Encoding.UTF8.GetBytes(body.ToJsonString())));
        if (response?.JobId is not { } jobId)
        {
            errors.Add("SubmitJob: no job");
            return;
        }
        var job = batch.Job(jobId);
        job.EndsAt = clock.Now + t.Life.Duration;
        job.Succeeds = t.Life.Succeeds;
        var key = (string?)job.Parameters[TaskKey.CallbackKeyParameter];
        foreach (var (offset, status) in new[] { (10, "RUNNABLE"), (40, "STARTING"), (70, "RUNNING") })
        {
            At(clock.Now + TimeSpan.FromSeconds(offset), () => Invoke("JobStateChange", t, "event " + status,
                () => events.HandleAsync(SimBatch.Event(job, status, clock.Now, sequence))));
        }
        for (var beat = TimeSpan.FromMinutes(30); t.Life.Duration > TimeSpan.FromHours(1) && beat < t.Life.Duration; beat += TimeSpan.FromMinutes(30))
        {
            At(clock.Now + beat, () => Invoke("Callback", t, "callback heartbeat",
                () => callbacks.HandleAsync(Callback(new JsonObject { ["JobId"] = jobId, ["Heartbeat"] = true }, key))));
        }
        if (t.Life.CallsBackResult)
        {
            At(job.EndsAt.Value - TimeSpan.FromSeconds(15), () => Invoke("Callback", t, "callback result",
                () => callbacks.HandleAsync(Callback(new JsonObject { ["JobId"] = jobId, ["Result"] = new JsonObject { ["score"] = 0.9 } }, key))));
        }
        if (!t.Life.FinalEventLost)
        {
            var final = t.Life.Succeeds ? "SUCCEEDED" : "FAILED";
            At(job.EndsAt.Value + TimeSpan.FromSeconds(5), () => Invoke("JobStateChange", t, "event " + final,
                () => events.HandleAsync(SimBatch.Event(job, final, clock.Now, sequence))));
        }
    });
}

// The sweep: every 5 simulated minutes, --parts Reconcile invocations at once, each on its part of the due index.
var sweeps = 0;
var sweepRows = new List<(long Store, long Batch, long Sfn, long Sts)>();
var lastArrival = start + lives.Max(l => l.Arrival);
async Task Sweep()
{
    sweeps++;
    var (s0, b0, f0, a0) = (storeCalls.Total, batchCalls.Total, sfn.Count, StsNow());
    var answers = await Task.WhenAll(reconcilers.Select((r, p) => r.SweepAsync(new SweepRequest(p + 1, parts))));
    foreach (var a in answers.Where(a => a.Errors > 0))
    {
        errors.Add($"Reconcile: {a.Errors} check errors");
    }
    sweepRows.Add((storeCalls.Total - s0, batchCalls.Total - b0, sfn.Count - f0, StsNow() - a0));
    if (clock.Now < lastArrival || sfn.Open > 0)
    {
        At(clock.Now + TimeSpan.FromMinutes(5), Sweep);
    }
}
At(start, Sweep);

var wall = System.Diagnostics.Stopwatch.StartNew();
while (queue.TryDequeue(out var action, out var when))
{
    clock.Now = when.Item1;
    await action();
    if (clock.Now - start > TimeSpan.FromHours(arrivalHours + 12))
    {
        errors.Add("stopped: tasks still open 12 simulated hours after the last arrival");
        break;
    }
}
wall.Stop();

// ---- the report ----
var window = TimeSpan.FromMinutes(50);
static int MaxIn(IReadOnlyList<DateTimeOffset> times, TimeSpan window) =>
    times.Count == 0 ? 0 : times.Select((t, i) => times.Skip(i).TakeWhile(u => u - t < window).Count()).Max();

var perSpoke = new JsonArray();
foreach (var (account, region) in spokes)
{
    var role = tenancy.SpokeRoleArn(new TaskPlace("aws", region, account));
    var byInstance = new JsonObject();
    var maxPer50 = 0;
    var total = 0;
    foreach (var instance in instances)
    {
        List<DateTimeOffset> times;
        lock (instance.Sts.Calls) { times = instance.Sts.Calls.Where(c => c.RoleArn == role).Select(c => c.At).OrderBy(t => t).ToList(); }
        var max = MaxIn(times, window);
        maxPer50 = Math.Max(maxPer50, max);
        total += times.Count;
        byInstance[instance.Name] = new JsonObject { ["assumeRole"] = times.Count, ["maxIn50Min"] = max, ["minGapMinutes"] = times.Count < 2 ? null : Math.Round(times.Zip(times.Skip(1), (a, b) => (b - a).TotalMinutes).Min(), 1) };
    }
    perSpoke.Add(new JsonObject
    {
        ["account"] = account, ["region"] = region, ["tasks"] = tasks.Count(t => t.Account == account),
        ["assumeRole"] = total, ["maxIn50MinPerInstance"] = maxPer50, ["byInstance"] = byInstance,
    });
}

// Step Functions calls per task, by group, function and operation (each call carries its task's token).
string Kind(string instance, string operation) => (instance.Split('-')[0], operation) switch
{
    ("SubmitJob", "SendTaskHeartbeat") => "proof heartbeat (SubmitJob)",
    (var f, "SendTaskHeartbeat") => $"heartbeat ({f})",
    (var f, var op) => $"{op} ({f})",
};
// The groups, and the spoke tasks whose lives the control group lives (the like-for-like comparison).
var groups = tasks.GroupBy(t => t.Group).OrderBy(g => g.Key, StringComparer.Ordinal)
    .Append(tasks.Where(t => twins.Contains(t.Index)).GroupBy(_ => "spoke twins of the same-account tasks").Single()).ToList();
var sfnPerTask = new JsonObject();
foreach (var g in groups)
{
    var tokens = g.Select(t => t.Token).ToHashSet();
    var calls = sfn.Calls.Where(c => tokens.Contains(c.Token)).ToList();
    var n = (double)g.Count();
    var row = new JsonObject { ["tasks"] = g.Count(), ["total"] = Math.Round(calls.Count / n, 3) };
    foreach (var kind in calls.GroupBy(c => Kind(c.Instance, c.Operation)).OrderBy(k => k.Key, StringComparer.Ordinal))
    {
        row[kind.Key] = Math.Round(kind.Count() / n, 3);
    }
    row["replies"] = new JsonObject(calls.GroupBy(c => c.Reply.ToString()).OrderBy(k => k.Key, StringComparer.Ordinal)
        .Select(k => KeyValuePair.Create(k.Key, (JsonNode?)k.Count())));
    sfnPerTask[g.Key] = row;
}

// Every call of each kind of invocation for one task: median and max, spoke vs same account, and how many needed an AssumeRole.
var perInvocation = new JsonArray();
foreach (var kind in invocations.GroupBy(i => (i.Function, i.What, i.Group)).OrderBy(k => k.Key.Function, StringComparer.Ordinal)
    .ThenBy(k => k.Key.What, StringComparer.Ordinal).ThenBy(k => k.Key.Group, StringComparer.Ordinal))
{
    var rows = kind.ToList();
    perInvocation.Add(new JsonObject
    {
        ["function"] = kind.Key.Function, ["invocation"] = kind.Key.What, ["group"] = kind.Key.Group, ["count"] = rows.Count,
        ["medianCalls"] = new JsonObject
        {
            ["DynamoDB"] = Median(rows.Select(r => r.Store)), ["Batch"] = Median(rows.Select(r => r.Batch)),
            ["StepFunctions"] = Median(rows.Select(r => r.Sfn)), ["STS"] = Median(rows.Select(r => r.Sts)),
        },
        ["maxStepFunctions"] = rows.Max(r => r.Sfn),
        ["withAnAssumeRole"] = rows.Count(r => r.Sts > 0),
        ["stsCalls"] = rows.Sum(r => r.Sts),
    });
}

var spokeTaskCount = tasks.Count(t => t.Account != Hub);
var stsTotal = StsNow();
var stsInSweeps = sweepRows.Sum(r => r.Sts);
var controlSts = invocations.Where(i => i.Group == "same account").Sum(i => i.Sts);
var answered = tasks.Count(t => sfn.Calls.Any(c => c.Token == t.Token && c.Operation != "SendTaskHeartbeat" && c.Reply == TaskReply.Accepted));
var simulatedHours = (clock.Now - start).TotalHours;
var maxPer50Overall = perSpoke.Max(s => (int)s!["maxIn50MinPerInstance"]!);
var report = new JsonObject
{
    ["spokes"] = spokeCount, ["spokesInHubRegion"] = spokes.Count(s => s.Region == HubRegion), ["spokeTasks"] = spokeTaskCount,
    ["sameAccountTasks"] = controlCount, ["arrivalHours"] = arrivalHours, ["simulatedHours"] = Math.Round(simulatedHours, 2),
    ["sweeps"] = sweeps, ["sweepParts"] = parts, ["wallSeconds"] = Math.Round(wall.Elapsed.TotalSeconds, 1),
    ["tasksAnswered"] = answered, ["secondAnswers"] = sfn.SecondAnswers, ["invalidTokenReplies"] = sfn.InvalidTokens,
    ["errors"] = errors.ToJson(),
    ["assumeRole"] = new JsonObject
    {
        ["total"] = stsTotal, ["perSpokeTask"] = Math.Round(stsTotal / (double)Math.Max(1, spokeTaskCount), 4),
        ["perSameAccountTask"] = controlCount == 0 ? null : Math.Round(controlSts / (double)controlCount, 4),
        ["inSweeps"] = stsInSweeps, ["maxIn50MinPerSpokePerInstance"] = maxPer50Overall,
        ["byInstance"] = new JsonObject(instances.Select(i => KeyValuePair.Create(i.Name, (JsonNode?)i.Sts.Count))),
        ["perSpoke"] = perSpoke,
    },
    ["stepFunctionsCallsPerTask"] = sfnPerTask,
    ["perInvocation"] = perInvocation,
    ["sweepCallsTotal"] = new JsonObject
    {
        ["DynamoDB"] = sweepRows.Sum(r => r.Store), ["Batch"] = sweepRows.Sum(r => r.Batch), ["StepFunctions"] = sweepRows.Sum(r => r.Sfn), ["STS"] = stsInSweeps,
    },
    ["callsByOperation"] = new JsonObject { ["DynamoDB"] = storeCalls.ToJson(), ["Batch"] = batchCalls.ToJson() },
};
Directory.CreateDirectory("artifacts");
File.WriteAllText(Path.Combine("artifacts", "spoke-bench.json"), report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));

Console.WriteLine($"SpokeBench: {spokeTaskCount} tasks of {spokeCount} spokes ({spokes.Count(s => s.Region == HubRegion)} in {HubRegion}, the rest in {OtherRegion}) + {controlCount} same-account tasks, " +
    $"arriving over {arrivalHours} h; {simulatedHours:0.0} simulated hours, {sweeps} sweeps x {parts} parts, {wall.Elapsed.TotalSeconds:0.0} s");
Console.WriteLine();
Console.WriteLine("AssumeRole per spoke (all warm instances) and the most in any 50 simulated minutes for one instance:");
foreach (var s in perSpoke)
{
    var by = s!["byInstance"]!.AsObject();
    Console.WriteLine($"  {s["account"]} {s["region"],-9} tasks {s["tasks"],4}  AssumeRole {s["assumeRole"],3}  max/50 min {s["maxIn50MinPerInstance"]}  ({string.Join(", ", by.Select(b => $"{b.Key} {b.Value!["assumeRole"]}"))})");
}
Console.WriteLine($"  total {stsTotal} = {report["assumeRole"]!["perSpokeTask"]} per spoke task; same-account invocations: {controlSts}");
Console.WriteLine();
Console.WriteLine("Step Functions calls per task:");
foreach (var (group, row) in sfnPerTask)
{
    Console.WriteLine($"  {group,-20} {string.Join("  ", row!.AsObject().Where(p => p.Key is not "tasks" and not "replies").Select(p => $"{p.Key} {p.Value}"))}");
}
Console.WriteLine();
Console.WriteLine("Calls of one invocation (medians: DynamoDB/Batch/StepFunctions/STS; invocations that needed an AssumeRole):");
foreach (var r in perInvocation)
{
    var m = r!["medianCalls"]!;
    Console.WriteLine($"  {r["function"],-15} {r["invocation"],-20} {r["group"],-20} n={r["count"],5}  {m["DynamoDB"]}/{m["Batch"]}/{m["StepFunctions"]}/{m["STS"]}  with AssumeRole {r["withAnAssumeRole"]}");
}
Console.WriteLine();
var ok = answered == tasks.Count && sfn.SecondAnswers == 0 && sfn.InvalidTokens == 0 && errors.Total == 0;
Console.WriteLine(report.ToJsonString());
Console.WriteLine($"spoke-bench: {tasks.Count} tasks, {answered} answered once, second answers {sfn.SecondAnswers}, errors {errors.Total}; AssumeRole {stsTotal} " +
    $"({report["assumeRole"]!["perSpokeTask"]} per spoke task), at most {maxPer50Overall} per spoke per instance in 50 simulated min; " +
    $"Step Functions per task: {string.Join(", ", sfnPerTask.Select(p => $"{p.Key} {p.Value!["total"]}"))}");
if (!ok)
{
    Console.Error.WriteLine("FAILED: a task was not answered exactly once, a token was refused, or an invocation failed (see errors)");
    return 1;
}
return 0;

int Arg(string name, int fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}

static double Median(IEnumerable<long> values)
{
    var sorted = values.OrderBy(v => v).ToList();
    return sorted.Count == 0 ? 0 : sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2.0;
}

static byte[] Callback(JsonObject request, string? key)
{
    if (key is not null)
    {
        request["CallbackKey"] = key;
    }
    return System.Text.Encoding.UTF8.GetBytes(request.ToJsonString());
}

namespace BatchSync.SpokeBench
{
    /// <summary>One warm function instance: its STS, its credentials cache, its router.</summary>
    sealed record Instance(string Name, SimSts Sts, SpokeCredentials Credentials, SpokeRouter Router);

    /// <summary>A task's life, the same for a spoke task and its same-account twin.</summary>
    sealed record Life(TimeSpan Arrival, TimeSpan Duration, bool Succeeds, bool FinalEventLost, bool CallsBackResult);

    sealed class SimTask(int index, string group, string account, string region, Life life)
    {
        public int Index => index;
        public string Group => group;
        public string Account => account;
        public string Region => region;
        public Life Life => life;
        public string Token { get; set; } = "";
        public string ExecutionArn { get; set; } = "";
    }

    sealed record InvocationRow(string Function, string Group, string What, long Store, long Batch, long Sfn, long Sts);
}
