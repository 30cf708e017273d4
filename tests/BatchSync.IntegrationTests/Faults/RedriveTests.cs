using System.Text.Json.Nodes;
using BatchSync.IntegrationTests.Moto;
using BatchSync.Mapping;
using BatchSync.Redrive;
using BatchSync.Tasks;

namespace BatchSync.IntegrationTests.Faults;

/// <summary>The documented redrive: dead letters of both kinds replayed through JobStateChange.</summary>
[Collection(MotoCollection.Name)]
public class RedriveTests(MotoFixture moto)
{
    [Fact]
    public async Task Dead_letters_are_replayed_and_only_the_refused_ones_stay()
    {
        var world = new AwsWorld(moto.Server, "eu-south-1");
        var (executionArn, _) = await EndToEndTests.StartReadmeExampleAsync(world);
        var (_, evt) = await EndToEndTests.SubmitAndBuildEventAsync(world, executionArn);
        var queueUrl = (await world.Sqs.CreateQueueAsync("redrive-test")).QueueUrl;
        // A Lambda on-failure destination record, an EventBridge dead letter of the same event, and an event whose
        // record does not exist (still refused after the redrive).
        await world.Sqs.SendMessageAsync(queueUrl, new JsonObject
        {
            ["version"] = "1.0", ["requestContext"] = new JsonObject { ["condition"] = "RetriesExhausted", ["approximateInvokeCount"] = 3 },
            ["requestPayload"] = evt.DeepClone(), ["responsePayload"] = new JsonObject { ["errorType"] = "TransientFailureException" },
        }.ToJsonString());
        await world.Sqs.SendMessageAsync(queueUrl, evt.ToJsonString());
        var orphan = (JsonObject)evt.DeepClone();
        orphan["detail"]!["parameters"]![SubmitRequestMapper.MarkerParameter] = $"{world.StackName}:{TaskKey.For("no-such-token")}";
        await world.Sqs.SendMessageAsync(queueUrl, orphan.ToJsonString());

        world.ExportEnvironment();
        var handler = SamTemplate.LoadHandler("JobStateChangeFunction");
        var answers = new List<string>();
        var report = await new Redriver(world.Sqs, async payload =>
        {
            var answer = await AwsWorld.InvokeAsync(handler, JsonNode.Parse(payload)!);
            answers.Add((string)answer["Action"]!);
        }).RunAsync(queueUrl);

        Assert.Equal(new RedriveReport(3, 2, 1), report);
        Assert.Equal(["Ignored", "Succeeded"], answers.Order());
        var execution = await world.WaitForExecutionAsync(executionArn, e => (string?)e["status"] != "RUNNING");
        Assert.Equal("SUCCEEDED", (string)execution["status"]!);
    }

    [Fact]
    public void The_event_is_read_from_either_kind_of_dead_letter()
    {
        Assert.Equal("""{"a":1}""", System.Text.Encoding.UTF8.GetString(Redriver.EventOf("""{"requestPayload":{"a":1},"responsePayload":{}}""")));
        Assert.Equal("""{"detail-type":"x"}""", System.Text.Encoding.UTF8.GetString(Redriver.EventOf("""{"detail-type":"x"}""")));
    }
}
