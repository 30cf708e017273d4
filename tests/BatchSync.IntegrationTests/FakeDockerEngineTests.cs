using System.Text.Json.Nodes;

namespace BatchSync.IntegrationTests;

/// <summary>
/// The playground's Batch: moto in Docker mode with tools/BatchSync.LocalWorld's fake engine walks a job through every
/// state and ends it by the container's exit code, or FAILED with the TerminateJob reason (DEVELOPERS.md).
/// </summary>
public class FakeDockerEngineTests
{
    [Fact]
    public async Task Moto_walks_each_job_through_every_state_and_ends_it_by_its_containers_exit()
    {
        Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", "testing");
        Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", "testing");
        using var engine = new FakeDockerEngine();
        using var moto = new MotoServer(new Dictionary<string, string> { ["DOCKER_HOST"] = engine.DockerHost });
        // 3 s a state (as MotoFixture.SlowBatch): moto moves a job one state on the first read of its status 1 s after the
        // last move (its job thread reads it every 0.5 s), so at 1 s a state lasts 1-1.5 s, less than one round of three
        // DescribeJobs calls and the 200 ms pause can take on a loaded machine, and the round could miss a state.
        moto.Post("/moto-api/state-manager/set-transition", """{"model_name":"batch::job","transition":{"progression":"time","seconds":3}}""");
        var world = new AwsWorld(moto, "us-east-1", "engine");
        var (queue, definition, _) = await world.CreateBatchAsync("engine");
        async Task<string> SubmitAsync(string name) =>
            (string)(await world.BatchAsync("SubmitJob", new JsonObject { ["jobName"] = name, ["jobQueue"] = queue, ["jobDefinition"] = definition }))["jobId"]!;
        var jobs = new Dictionary<string, string> { ["exits-0"] = await SubmitAsync("exits-0"), ["exits-1"] = await SubmitAsync("exits-1"), ["terminated"] = await SubmitAsync("terminated") };
        var seen = jobs.Keys.ToDictionary(k => k, _ => new List<string>());
        var ended = new Dictionary<string, JsonNode>();
        FakeContainer? terminated = null;

        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (ended.Count < jobs.Count && DateTime.UtcNow < deadline)
        {
            foreach (var (name, id) in jobs.Where(j => !ended.ContainsKey(j.Key)))
            {
                var job = JsonNode.Parse((await world.Batch.DescribeJobDetailsAsync([id])).Single().GetRawText())!;
                var status = (string)job["status"]!;
                if (seen[name].LastOrDefault() != status)
                {
                    seen[name].Add(status);
                }
                if (status is "SUCCEEDED" or "FAILED")
                {
                    ended[name] = job;
                }
                else if (status == "RUNNING" && engine.ForJob(id) is { } container)
                {
                    Assert.Equal("busybox", container.Image);
                    if (name == "terminated")
                    {
                        if (terminated is null)
                        {
                            terminated = container;
                            await world.BatchAsync("TerminateJob", new JsonObject { ["jobId"] = id, ["reason"] = "stopped by the test" });
                        }
                    }
                    else
                    {
                        engine.Exit(container, name == "exits-0" ? 0 : 1);
                    }
                }
            }
            await Task.Delay(200);
        }

        Assert.Equal(["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"], seen["exits-0"]);
        Assert.Equal(["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "FAILED"], seen["exits-1"]);
        Assert.Equal(("FAILED", "stopped by the test"), ((string)ended["terminated"]["status"]!, (string?)ended["terminated"]["statusReason"]));
        // moto kills the container of a terminated job (137: killed), as Batch stops a terminated job's container.
        Assert.Equal(137, terminated?.ExitCode);
    }
}
