using System.Text.Json.Nodes;
using BatchSync.IntegrationTests.Moto;
using Xunit.Abstractions;

namespace BatchSync.IntegrationTests.Faults;

/// <summary>
/// AWS calls one job costs, counted by the proxy (with no faults) for a job of 1 minute and one of 1 hour of simulated
/// time: Batch's events for PENDING, RUNNABLE, STARTING, RUNNING and SUCCEEDED, and the sweeps that fall within the
/// job's life (every 5 minutes). The job stays queued in moto while the sweeps run, so each sweep sees it unfinished.
/// </summary>
[Collection(MotoCollection.Name)]
public class CallCountTests(MotoFixture moto, ITestOutputHelper output)
{
    private static readonly string[] Progress = ["PENDING", "RUNNABLE", "STARTING", "RUNNING"];

    [Fact]
    public async Task Calls_per_job_grow_only_by_the_sweeps_heartbeats()
    {
        var world = new AwsWorld(moto.SlowBatch, "eu-central-2", "counts");
        var (queue, definition, _) = await world.CreateBatchAsync();
        await world.CreateTableFromTemplateAsync();
        using var proxy = new FaultProxy(moto.SlowBatch.Endpoint, seed: 1);
        world.ExportEnvironment(proxy.Endpoint);
        var report = new JsonObject();
        try
        {
            foreach (var (label, minutes) in new[] { ("1 minute", 1), ("1 hour", 60) })
            {
                proxy.Calls.Clear();
                var submitted = await AwsWorld.InvokeAsync(SamTemplate.LoadHandler("SubmitJobFunction"), new JsonObject
                {
                    ["JobName"] = $"count-{minutes}", ["JobQueue"] = queue, ["JobDefinition"] = definition,
                    ["TaskToken"] = $"count-token-{minutes}-{Guid.NewGuid()}",
                });
                var jobId = (string)submitted["JobId"]!;
                var detail = JsonNode.Parse((await world.Batch.DescribeJobsAsync([jobId])).Single().GetRawText())!.AsObject();
                var events = SamTemplate.LoadHandler("JobStateChangeFunction");
                var sweep = SamTemplate.LoadHandler("ReconcileFunction");
                var sweeps = minutes / 5;
                foreach (var status in Progress)
                {
                    var evt = world.BuildEvent((JsonObject)detail.DeepClone());
                    evt["detail"]!["status"] = status;
                    await AwsWorld.InvokeAsync(events, evt);
                }
                for (var i = 0; i < sweeps; i++)
                {
                    var swept = await AwsWorld.InvokeAsync(sweep, AwsWorld.ScheduledEvent());
                    Assert.Equal(1, (int)swept["Heartbeats"]!);
                }
                var done = world.BuildEvent((JsonObject)detail.DeepClone());
                done["detail"]!["status"] = "SUCCEEDED";
                await AwsWorld.InvokeAsync(events, done);

                var counts = proxy.Calls.GroupBy(c => FaultSuiteTests.IamAction(c.Service, c.Operation)).OrderBy(g => g.Key)
                    .ToDictionary(g => g.Key, g => g.Count());
                report[label] = new JsonObject
                {
                    ["sweeps"] = sweeps,
                    ["total"] = proxy.Calls.Count,
                    ["byService"] = new JsonObject(proxy.Calls.GroupBy(c => c.Service).OrderBy(g => g.Key).Select(g => KeyValuePair.Create(g.Key, (JsonNode?)g.Count()))),
                    ["byAction"] = new JsonObject(counts.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
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

        // The event-driven part is the same for both; each sweep adds one heartbeat for the job plus its share of one
        // Open-index query, one BatchGetItem and one DescribeJobs (shared by up to 100 unfinished jobs).
        var shortJob = (int)report["1 minute"]!["total"]!;
        var longJob = (int)report["1 hour"]!["total"]!;
        Assert.Equal(12 * 4, longJob - shortJob);
        Assert.Equal(12, (int)report["1 hour"]!["byAction"]!["states:SendTaskHeartbeat"]! - (int)report["1 minute"]!["byAction"]!["states:SendTaskHeartbeat"]!);
    }
}
