using System.Text.Json.Nodes;
using BatchSync.Composition;
using BatchSync.Aws;
using BatchSync.IntegrationTests.Moto;
using Xunit.Abstractions;

namespace BatchSync.IntegrationTests.Faults;

/// <summary>
/// AWS calls per job, counted by the proxy (no faults) for jobs of 1 minute, 1 hour and 24 hours of simulated time:
/// the functions run in-process on a clock the test moves, with the deployed schedule (a sweep every 5 minutes, gaps
/// up to 60). Each job gets Batch's PENDING, RUNNABLE, STARTING and RUNNING events, the sweeps of its life (the proxy
/// keeps it RUNNING to DescribeJobs until its end), then SUCCEEDED. A call is the job's own when it names one job, one
/// task token or one record key; the rest (the sweep's index queries, and batched reads and writes) is shared by the
/// open tasks, and is reported both as measured for this run's jobs and per sweep, so it can be spread over any number.
/// </summary>
[Collection(MotoCollection.Name)]
public class CallCountTests(MotoFixture moto, ITestOutputHelper output)
{
    private const int Jobs = 20;
    private static readonly string[] Progress = ["PENDING", "RUNNABLE", "STARTING", "RUNNING"];
    private static readonly Dictionary<string, string?> Deployed = new()
    {
        ["BATCHSYNC_SWEEP_INTERVAL_MINUTES"] = "5",
        ["BATCHSYNC_MAX_CHECK_INTERVAL_MINUTES"] = "60",
    };

    [Fact]
    public async Task Calls_per_job_thin_out_with_age()
    {
        var world = new AwsWorld(moto.Server, "eu-central-2", "counts");
        var (queue, definition, _) = await world.CreateBatchAsync();
        await world.CreateTableFromTemplateAsync();
        using var proxy = new FaultProxy(moto.Server.Endpoint, seed: 1);
        world.ExportEnvironment(proxy.Endpoint, Deployed);
        var report = new JsonObject();
        try
        {
            foreach (var (label, minutes) in new[] { ("1 minute", 1), ("1 hour", 60), ("24 hours", 24 * 60) })
            {
                var clock = new MovableClock(DateTimeOffset.UtcNow.AddDays(minutes));
                var host = new FunctionHost(AwsSettings.FromEnvironment(), clock);
                var submit = new SubmitJob.Function(host);
                var events = new JobStateChange.Function(host);
                var sweep = new Reconcile.Function(host);
                proxy.Calls.Clear();

                var jobs = new List<(string Token, string JobId)>();
                for (var i = 0; i < Jobs; i++)
                {
                    var token = $"count-token-{minutes}-{i}-{Guid.NewGuid()}";
                    var submitted = await AwsWorld.InvokeAsync(submit.HandleAsync, new JsonObject
                    {
                        ["JobName"] = $"count-{minutes}", ["JobQueue"] = queue, ["JobDefinition"] = definition, ["TaskToken"] = token,
                    });
                    jobs.Add((token, (string)submitted["JobId"]!));
                    proxy.StatusOverrides[(string)submitted["JobId"]!] = "RUNNING";
                }
                var details = new Dictionary<string, JsonObject>();
                foreach (var (_, jobId) in jobs)
                {
                    details[jobId] = JsonNode.Parse((await world.Batch.DescribeJobDetailsAsync([jobId])).Single().GetRawText())!.AsObject();
                    foreach (var status in Progress)
                    {
                        var evt = world.BuildEvent((JsonObject)details[jobId].DeepClone());
                        evt["detail"]!["status"] = status;
                        await AwsWorld.InvokeAsync(events.HandleAsync, evt);
                    }
                }
                var sweeps = 0;
                var checks = 0;
                for (var at = 5; at <= minutes; at += 5)
                {
                    clock.Now = clock.Start.AddMinutes(at);
                    checks += (int)(await AwsWorld.InvokeAsync(sweep.HandleAsync, AwsWorld.ScheduledEvent()))["Heartbeats"]!;
                    sweeps++;
                }
                clock.Now = clock.Start.AddMinutes(minutes);
                foreach (var (_, jobId) in jobs)
                {
                    proxy.StatusOverrides.TryRemove(jobId, out _);
                    var done = world.BuildEvent((JsonObject)details[jobId].DeepClone());
                    done["detail"]!["status"] = "SUCCEEDED";
                    await AwsWorld.InvokeAsync(events.HandleAsync, done);
                }

                // A call is one job's own when its body names exactly one job (by its id, token or record key).
                bool OneJobs(ProxiedCall call) => jobs.Count(j => call.Body.Contains(j.JobId, StringComparison.Ordinal)
                    || call.Body.Contains(j.Token, StringComparison.Ordinal) || call.Body.Contains(Domain.TaskKey.For(j.Token), StringComparison.Ordinal)) == 1;
                var own = proxy.Calls.Where(OneJobs).ToList();
                var shared = proxy.Calls.Where(c => !OneJobs(c)).ToList();
                report[label] = new JsonObject
                {
                    ["jobs"] = Jobs,
                    ["sweeps"] = sweeps,
                    ["checksPerJob"] = (double)checks / Jobs,
                    ["ownCallsPerJob"] = (double)own.Count / Jobs,
                    ["sharedCalls"] = shared.Count,
                    ["sharedCallsPerSweep"] = sweeps == 0 ? 0 : (double)shared.Count / sweeps,
                    ["callsPerJobAtThisScale"] = (double)proxy.Calls.Count / Jobs,
                    ["ownByAction"] = new JsonObject(own.GroupBy(c => FaultSuiteTests.IamAction(c.Service, c.Operation)).OrderBy(g => g.Key)
                        .Select(g => KeyValuePair.Create(g.Key, (JsonNode?)((double)g.Count() / Jobs)))),
                    ["sharedByAction"] = new JsonObject(shared.GroupBy(c => FaultSuiteTests.IamAction(c.Service, c.Operation)).OrderBy(g => g.Key)
                        .Select(g => KeyValuePair.Create(g.Key, (JsonNode?)g.Count()))),
                };
            }
        }
        finally
        {
            world.ExportEnvironment();
            output.WriteLine(report.ToJsonString());
            Directory.CreateDirectory(Path.Combine(SamTemplate.RepoRoot, "artifacts"));
            File.WriteAllText(Path.Combine(SamTemplate.RepoRoot, "artifacts", "call-counts.json"), report.ToJsonString(new() { WriteIndented = true }));
        }

        // The event-driven part is the same for every job; the sweep adds one heartbeat per check, and the checks thin
        // out with age: 0 in the first minute, 3 in the first hour, 26 in the first day (see CheckScheduleTests).
        double Own(string label) => (double)report[label]!["ownCallsPerJob"]!;
        double Checks(string label) => (double)report[label]!["checksPerJob"]!;
        Assert.Equal(0, Checks("1 minute"));
        Assert.Equal(3, Checks("1 hour"));
        Assert.Equal(26, Checks("24 hours"));
        Assert.Equal(Checks("1 hour"), Own("1 hour") - Own("1 minute"));
        Assert.Equal(Checks("24 hours"), Own("24 hours") - Own("1 minute"));
    }

    /// <summary>A clock the test moves by hand.</summary>
    private sealed class MovableClock(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Start { get; } = start;
        public DateTimeOffset Now { get; set; } = start;
        public override DateTimeOffset GetUtcNow() => Now;
    }
}
