using System.Text.Json.Nodes;
using Amazon.DynamoDBv2.Model;
using BatchSync.Aws;
using BatchSync.Domain;
using BatchSync.IntegrationTests.Moto;
using BatchSync.Composition;
using Xunit.Abstractions;

namespace BatchSync.IntegrationTests.Faults;

/// <summary>
/// Issue 18 against moto through the fault proxy, with the Reconcile function as deployed (50 s budget, the runbook's
/// <c>{"Sweep": {}}</c>, one invocation per tick) on a clock the test moves from tick to tick. Step Functions is held to a
/// quota by the proxy (throttling beyond it, as the service does), DynamoDB throttles in bursts. The open tasks' jobs are
/// described by the proxy (<see cref="FaultProxy.SyntheticJobs"/>); their tokens are ones moto never issued, so it
/// replies InvalidToken, which a heartbeat leaves alone: what is counted is what BatchSync sent and wrote, from the
/// proxy's log and the table.
/// </summary>
[Collection(MotoCollection.Name)]
public class SweepUnderPressureTests(MotoFixture moto, ITestOutputHelper output)
{
    private static readonly Dictionary<string, string?> Deployed = new()
    {
        ["BATCHSYNC_SWEEP_INTERVAL_MINUTES"] = "5",
        ["BATCHSYNC_MAX_CHECK_INTERVAL_MINUTES"] = "60",
        ["BATCHSYNC_INVOCATION_BUDGET_SECONDS"] = "50",
    };

    private static readonly JsonObject WholeSweep = new() { ["Sweep"] = new JsonObject() };

    private sealed class TickClock(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;
        public override DateTimeOffset GetUtcNow() => Now;
    }

    private sealed record Seeded(AwsWorld World, FaultProxy Proxy, List<TaskRecord> Records, DateTimeOffset Start) : IDisposable
    {
        public void Dispose() => Proxy.Dispose();
    }

    /// <summary>Open tasks, all due now, the oldest first; the jobs of <paramref name="ended"/> ended SUCCEEDED with their events lost.</summary>
    private async Task<Seeded> SeedAsync(string region, int count, Func<int, bool> ended)
    {
        var world = new AwsWorld(moto.Server, region, $"pressure-{region}");
        await world.CreateTableFromTemplateAsync();
        var proxy = new FaultProxy(moto.Server.Endpoint, seed: 18) { PlayTransactionsAsUpdates = true };
        world.ExportEnvironment(proxy.Endpoint, Deployed);
        var start = DateTimeOffset.UtcNow;
        var records = Enumerable.Range(0, count).Select(i =>
        {
            var token = $"pressure-token-{region}-{i}";
            var key = TaskKey.For(token);
            var created = start.AddHours(-6).AddSeconds(i).ToUnixTimeMilliseconds();
            proxy.SyntheticJobs[$"job-{i}"] = new JsonObject
            {
                ["jobArn"] = $"arn:aws:batch:{region}:123456789012:job/job-{i}", ["jobName"] = "pressure", ["jobId"] = $"job-{i}",
                ["jobQueue"] = $"arn:aws:batch:{region}:123456789012:job-queue/q", ["status"] = ended(i) ? "SUCCEEDED" : "RUNNING",
                ["createdAt"] = created, ["startedAt"] = created + 1000, ["stoppedAt"] = ended(i) ? created + 2000 : null,
                ["jobDefinition"] = $"arn:aws:batch:{region}:123456789012:job-definition/d:1",
                ["parameters"] = new JsonObject { [TaskKey.MarkerParameter] = TaskKey.Marker(world.StackName, key) },
                ["attempts"] = new JsonArray(), ["container"] = new JsonObject { ["image"] = "busybox" },
            };
            return new TaskRecord
            {
                TaskKey = key, TaskToken = token, Status = RecordStatus.Submitted, JobId = $"job-{i}", JobName = "pressure", JobQueue = "q",
                CreatedAt = created, UpdatedAt = created, NextCheckAt = start.AddMinutes(-10).AddMilliseconds(i).ToUnixTimeMilliseconds(),
            };
        }).ToList();
        var store = world.PatientStore(TimeSpan.FromSeconds(30));
        await Parallel.ForEachAsync(records, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (r, _) => Assert.True(await store.TryCreateAsync(r)));
        return new Seeded(world, proxy, records, start);
    }

    private static async Task<JsonObject> SweepAsync(Reconcile.Function function) => await AwsWorld.InvokeAsync(function.HandleAsync, WholeSweep);

    private static async Task<Dictionary<string, Dictionary<string, AttributeValue>>> TableAsync(AwsWorld world)
    {
        var items = new Dictionary<string, Dictionary<string, AttributeValue>>();
        Dictionary<string, AttributeValue>? start = null;
        do
        {
            var page = await world.Dynamo.ScanAsync(new ScanRequest { TableName = world.TableName, ExclusiveStartKey = start });
            foreach (var item in page.Items)
            {
                items[item["TaskKey"].S] = item;
            }
            start = page.LastEvaluatedKey is { Count: > 0 } last ? last : null;
        }
        while (start is not null);
        return items;
    }

    private static long NextCheckAt(Dictionary<string, AttributeValue> item) => item.TryGetValue("NextCheckAt", out var v) ? long.Parse(v.N) : 0;

    private static List<ProxiedCall> Sent(FaultProxy proxy, string operation, string token) =>
        proxy.Calls.Where(c => c.Operation == operation && c.Body.Contains($"\"{token}\"", StringComparison.Ordinal)).ToList();

    [Fact]
    public async Task With_1500_due_and_Step_Functions_taking_50_calls_a_second_the_newest_lost_outcome_is_delivered_within_two_sweeps()
    {
        using var seeded = await SeedAsync("ap-south-2", 1500, i => i == 1499);
        var (world, proxy, records, start) = (seeded.World, seeded.Proxy, seeded.Records, seeded.Start);
        proxy.LimitRate("states", 50); // the account's Step Functions answers about 50 calls a second, throttling the rest
        var clock = new TickClock(start);
        var function = new Reconcile.Function(new FunctionHost(AwsSettings.FromEnvironment(), clock));
        var newest = records[^1];

        var sweeps = new List<JsonObject>();
        for (var tick = 0; tick < 2 && Sent(proxy, "SendTaskSuccess", newest.TaskToken).All(c => c.Fault is not null); tick++)
        {
            clock.Now = start.AddMinutes(5 * tick);
            var swept = await SweepAsync(function);
            sweeps.Add(swept);
            output.WriteLine($"sweep {tick + 1}: {swept.ToJsonString()}; Step Functions calls {proxy.Calls.Count(c => c.Service == "states")}, throttled {proxy.Calls.Count(c => c.Service == "states" && c.Fault == FaultKind.Throttle)}");

            // Every check the sweep did is recorded: counted from the table, the records it moved out of the due set.
            var table = await TableAsync(world);
            var movedOut = table.Values.Count(i => NextCheckAt(i) > clock.Now.ToUnixTimeMilliseconds() || !i.ContainsKey("OpenShard"));
            Assert.Equal((int)swept["Examined"]!, (int)swept["Recorded"]!);
            Assert.True(movedOut >= (int)swept["Recorded"]!, $"{movedOut} records moved out, {swept["Recorded"]} recorded");
        }

        var delivered = Sent(proxy, "SendTaskSuccess", newest.TaskToken).Where(c => c.Fault is null && c.UpstreamStatus is not null).ToList();
        Assert.Single(delivered);
        Assert.InRange(sweeps.Count, 1, 2);
        Assert.True(proxy.Calls.Any(c => c.Service == "states" && c.Fault == FaultKind.Throttle) || sweeps.Count == 1);
        var after = await TableAsync(world);
        Assert.False(after[newest.TaskKey].ContainsKey("OpenShard")); // its record ended
    }

    /// <summary>Attempts of a throttled store call in sweep 1 of the DynamoDB throttling test (deployed: 10).</summary>
    private const int ClaimAttempts = 4;

    [Fact]
    public async Task With_DynamoDB_throttling_a_sweeps_first_writes_a_lost_outcome_is_delivered_by_the_sweep_after_its_first_failed_delivery()
    {
        using var seeded = await SeedAsync("ap-southeast-4", 40, i => i == 39);
        var (world, proxy, records, start) = (seeded.World, seeded.Proxy, seeded.Records, seeded.Start);
        var clock = new TickClock(start);
        var deployed = BatchSyncSettings.FromEnvironment();
        // Sweep 1's function gives up on a throttled store call after 4 attempts instead of the deployed 10, so that the
        // claim's retries end inside the sweep's check window and the check fails, rather than racing the window. Each
        // attempt is also retried 3 times by the SDK (MaxErrorRetry 3, standard mode: full jitter up to 1, 2, 4 s), so
        // the deployed 10 attempts take 40 ± 4 s (up to 81 s) against the window's 44 s: about one run in four, more on a
        // loaded machine, the check was cut (LeftDue 1, Errors 0) instead of failing. 4 attempts take 29 s at the most.
        var fewerThrottledAttempts = new Reconcile.Function(new FunctionHost(
            deployed with { Retry = new RetryPolicy { MaxThrottledAttempts = ClaimAttempts, AttemptTimeout = deployed.Retry.AttemptTimeout } }, clock));
        var function = new Reconcile.Function(new FunctionHost(deployed, clock));
        var lost = records[^1];

        // Sweep 1: every single-record write is throttled throughout (a burst longer than any retry): the delivery's
        // claim cannot be written, so its check fails; the batched reschedules (transactions) still get through.
        proxy.ThrottleFor("dynamodb:UpdateItem", TimeSpan.FromMinutes(10));
        var first = await SweepAsync(fewerThrottledAttempts);
        var claims = proxy.Calls.Where(c => c.Operation == "UpdateItem" && c.Body.Contains(lost.TaskKey, StringComparison.Ordinal)).ToList();
        output.WriteLine($"sweep 1: {first.ToJsonString()}; the lost record's claim throttled {claims.Count(c => c.Fault == FaultKind.Throttle)} times" +
            (claims.Count > 0 ? $" over {(claims[^1].At - claims[0].At).TotalSeconds:0.0} s" : ""));
        Assert.Empty(Sent(proxy, "SendTaskSuccess", lost.TaskToken));
        Assert.True(claims.Count(c => c.Fault == FaultKind.Throttle) >= ClaimAttempts, "the claim was throttled on each of its attempts");
        Assert.True((int)first["Errors"]! >= 1);
        var afterFirst = (await TableAsync(world))[lost.TaskKey];
        Assert.Equal("1", afterFirst["CheckFailures"].N);
        Assert.True(NextCheckAt(afterFirst) <= start.AddMinutes(5).ToUnixTimeMilliseconds(), "a failed delivery is due at the next sweep, not on the age schedule");

        // Sweep 2, by the function as deployed: DynamoDB throttles the first writes again, a two-second burst, which the
        // store's own retries ride out.
        proxy.ThrottleFor("dynamodb:UpdateItem", TimeSpan.Zero);
        clock.Now = start.AddMinutes(5);
        var throttledBefore = proxy.Calls.Count(c => c.Service == "dynamodb" && c.Fault == FaultKind.Throttle);
        proxy.ThrottleFor("dynamodb", TimeSpan.FromSeconds(2));
        var second = await SweepAsync(function);
        output.WriteLine($"sweep 2: {second.ToJsonString()}");
        Assert.True(proxy.Calls.Count(c => c.Service == "dynamodb" && c.Fault == FaultKind.Throttle) > throttledBefore, "the burst happened");
        Assert.Single(Sent(proxy, "SendTaskSuccess", lost.TaskToken), c => c.Fault is null);
        Assert.Equal(1, (int)second["Delivered"]!);
        Assert.False((await TableAsync(world))[lost.TaskKey].ContainsKey("OpenShard"));
    }

    [Fact]
    public async Task With_a_third_of_the_heartbeats_throttled_every_check_is_done_and_recorded()
    {
        using var seeded = await SeedAsync("me-central-1", 90, _ => false);
        var (world, proxy, _, start) = (seeded.World, seeded.Proxy, seeded.Records, seeded.Start);
        proxy.RatesByOperation["states:SendTaskHeartbeat"] = 1.0 / 3;
        proxy.KindsByOperation["states:SendTaskHeartbeat"] = [FaultKind.Throttle];
        var function = new Reconcile.Function(new FunctionHost(AwsSettings.FromEnvironment(), new TickClock(start)));

        var swept = await SweepAsync(function);

        output.WriteLine($"{swept.ToJsonString()}; heartbeats throttled {proxy.Calls.Count(c => c.Fault == FaultKind.Throttle)} of {proxy.Calls.Count(c => c.Operation == "SendTaskHeartbeat")}");
        Assert.InRange(proxy.Calls.Count(c => c.Fault == FaultKind.Throttle), 20, 90);
        Assert.Equal(90, (int)swept["Examined"]!);
        Assert.Equal(90, (int)swept["Recorded"]!);
        Assert.Equal(0, (int)swept["Errors"]!);
        var now = start.ToUnixTimeMilliseconds();
        Assert.All((await TableAsync(world)).Values, item => Assert.True(NextCheckAt(item) > now));
    }
}
