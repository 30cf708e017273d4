using System.Text.Json.Nodes;
using BatchSync.IntegrationTests.Moto;
using BatchSync.Redrive;
using BatchSync.Domain;

namespace BatchSync.IntegrationTests.Faults;

/// <summary>The documented redrive: dead letters of both kinds replayed, each on-failure record through the function that failed.</summary>
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
        orphan["detail"]!["parameters"]![TaskKey.MarkerParameter] = $"{world.StackName}:{TaskKey.For("no-such-token")}";
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
    public async Task Each_failed_invocation_is_replayed_through_the_function_that_failed()
    {
        var world = new AwsWorld(moto.Server, "eu-west-3");
        var (executionArn, _) = await EndToEndTests.StartReadmeExampleAsync(world);
        var (_, evt) = await EndToEndTests.SubmitAndBuildEventAsync(world, executionArn);
        var queueUrl = (await world.Sqs.CreateQueueAsync("redrive-routing-test")).QueueUrl;
        const string jobStateChangeArn = "arn:aws:lambda:eu-west-3:123456789012:function:batchsync-JobStateChangeFunction-1A2B3C";
        const string reconcileArn = "arn:aws:lambda:eu-west-3:123456789012:function:batchsync-ReconcileFunction-4D5E6F";
        // Each event is one only its own function takes: JobStateChange refuses an execution event, Reconcile a job's.
        var executionEvent = new JsonObject
        {
            ["version"] = "0", ["id"] = "x", ["detail-type"] = "Step Functions Execution Status Change", ["source"] = "aws.states",
            ["account"] = "123456789012", ["time"] = "2026-01-01T00:00:00Z", ["region"] = "eu-west-3", ["resources"] = new JsonArray(executionArn),
            ["detail"] = new JsonObject { ["executionArn"] = executionArn, ["status"] = "SUCCEEDED" },
        };
        foreach (var (function, payload) in new[] { (reconcileArn, (JsonNode)executionEvent), (jobStateChangeArn, evt) })
        {
            // As Lambda writes it to an SQS on-failure destination (AWS Lambda Developer Guide, "Invocation record").
            await world.Sqs.SendMessageAsync(queueUrl, new JsonObject
            {
                ["version"] = "1.0", ["timestamp"] = "2026-01-01T00:00:00.000Z",
                ["requestContext"] = new JsonObject
                {
                    ["requestId"] = Guid.NewGuid().ToString(), ["functionArn"] = function + ":$LATEST",
                    ["condition"] = "RetriesExhausted", ["approximateInvokeCount"] = 3,
                },
                ["requestPayload"] = payload.DeepClone(), ["responseContext"] = new JsonObject { ["statusCode"] = 200, ["functionError"] = "Unhandled" },
                ["responsePayload"] = new JsonObject { ["errorType"] = "TransientFailureException" },
            }.ToJsonString());
        }
        // An EventBridge dead letter names no function: without --function it stays.
        await world.Sqs.SendMessageAsync(queueUrl, evt.ToJsonString());

        world.ExportEnvironment();
        var handlers = new Dictionary<string, Func<Stream, Task<Stream>>>
        {
            [jobStateChangeArn + ":$LATEST"] = SamTemplate.LoadHandler("JobStateChangeFunction"),
            [reconcileArn + ":$LATEST"] = SamTemplate.LoadHandler("ReconcileFunction"),
        };
        var calls = new List<(string Function, string Action)>();
        var report = await new Redriver(world.Sqs, async (function, payload) =>
        {
            var answer = await AwsWorld.InvokeAsync(handlers[function], JsonNode.Parse(payload)!);
            calls.Add((function, (string)answer["Action"]!));
        }, defaultFunction: null) { RefusedVisibilitySeconds = 1 }.RunAsync(queueUrl, maxMessages: 3);

        Assert.Equal(new RedriveReport(3, 2, 1), report);
        Assert.Equal([(jobStateChangeArn + ":$LATEST", "Succeeded"), (reconcileArn + ":$LATEST", "Ignored")], calls.Order());
        var execution = await world.WaitForExecutionAsync(executionArn, e => (string?)e["status"] != "RUNNING");
        Assert.Equal("SUCCEEDED", (string)execution["status"]!);

        // With --function, the EventBridge dead letter goes there; its task is already answered, so it changes nothing.
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        calls.Clear();
        var rest = await new Redriver(world.Sqs, async (function, payload) =>
        {
            var answer = await AwsWorld.InvokeAsync(handlers[function], JsonNode.Parse(payload)!);
            calls.Add((function, (string)answer["Action"]!));
        }, defaultFunction: jobStateChangeArn + ":$LATEST").RunAsync(queueUrl);
        Assert.Equal(new RedriveReport(1, 1, 0), rest);
        Assert.Equal([(jobStateChangeArn + ":$LATEST", "Ignored")], calls);
    }

    [Fact]
    public void A_failed_invocation_names_its_function_and_an_EventBridge_dead_letter_none()
    {
        var record = Redriver.Read("""{"requestContext":{"functionArn":"arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST"},"requestPayload":{"a":1}}""");
        Assert.Equal("arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST", record.Function);
        Assert.Equal("""{"a":1}""", System.Text.Encoding.UTF8.GetString(record.Event));
        Assert.Null(Redriver.Read("""{"detail-type":"x"}""").Function);
    }

    [Fact]
    public void The_event_is_read_from_either_kind_of_dead_letter()
    {
        Assert.Equal("""{"a":1}""", System.Text.Encoding.UTF8.GetString(Redriver.EventOf("""{"requestPayload":{"a":1},"responsePayload":{}}""")));
        Assert.Equal("""{"detail-type":"x"}""", System.Text.Encoding.UTF8.GetString(Redriver.EventOf("""{"detail-type":"x"}""")));
    }
}
