using System.Text.Json.Nodes;
using BatchSync.IntegrationTests.Moto;
using BatchSync.Domain;

namespace BatchSync.IntegrationTests;

/// <summary>The deployed SubmitJob handler, configured as the template configures it, against moto's Batch.</summary>
[Collection(MotoCollection.Name)]
public class TrustBoundaryTests(MotoFixture moto)
{
    [Fact]
    public async Task The_SubmitJob_handler_submits_only_to_the_queues_and_definitions_the_template_allows()
    {
        var world = new AwsWorld(moto.Server, "ca-central-1");
        var (queue, definition, _) = await world.CreateBatchAsync("trust");
        var prefix = $"arn:aws:batch:ca-central-1:{AwsWorld.Account}";
        var request = new JsonObject { ["JobName"] = "trusted", ["JobQueue"] = queue, ["JobDefinition"] = definition };

        var refusing = Handler(world, $"{prefix}:job-queue/other-*", "");
        var refusal = await Assert.ThrowsAsync<NotAllowedException>(() => AwsWorld.InvokeAsync(refusing, request));
        Assert.Contains($"job queue \"{queue}\"", refusal.Message);
        Assert.Empty(await JobsNamedAsync(world, queue, "trusted"));

        var allowing = Handler(world, $"{prefix}:job-queue/other-*,{prefix}:job-queue/{queue}", $"{prefix}:job-definition/{definition}:*");
        var answer = await AwsWorld.InvokeAsync(allowing, request);
        Assert.Equal([(string)answer["JobId"]!], await JobsNamedAsync(world, queue, "trusted"));
    }

    /// <summary>The handler as the runtime creates it, with the template's variables set while it reads them.</summary>
    private static Func<Stream, Task<Stream>> Handler(AwsWorld world, string queues, string definitions)
    {
        world.ExportEnvironment();
        Environment.SetEnvironmentVariable(SubmitPermissions.QueuesVariable, queues);
        Environment.SetEnvironmentVariable(SubmitPermissions.DefinitionsVariable, definitions);
        try
        {
            return SamTemplate.LoadHandler("SubmitJobFunction");
        }
        finally
        {
            Environment.SetEnvironmentVariable(SubmitPermissions.QueuesVariable, null);
            Environment.SetEnvironmentVariable(SubmitPermissions.DefinitionsVariable, null);
        }
    }

    private static async Task<List<string>> JobsNamedAsync(AwsWorld world, string queue, string name)
    {
        var listed = await world.BatchAsync("ListJobs", new JsonObject
        {
            ["jobQueue"] = queue,
            ["filters"] = new JsonArray(new JsonObject { ["name"] = "JOB_NAME", ["values"] = new JsonArray(name) }),
        });
        return listed["jobSummaryList"]!.AsArray().Select(j => (string)j!["jobId"]!).ToList();
    }
}
