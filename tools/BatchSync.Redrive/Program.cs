using System.Text;
using System.Text.Json;
using Amazon.SQS;
using BatchSync.Aws;
using BatchSync.Redrive;

// batchsync-redrive --queue-url <url> [--function <name or ARN>] [--max N]
// Replays BatchSync's dead letters. A Lambda on-failure record (FailedInvocationQueueUrl,
// ReconcileFailedInvocationQueueUrl, SubmitJobFailedInvocationQueueUrl) goes back to the function that failed (its
// requestContext.functionArn); an EventBridge dead letter carries the event only, so it goes to --function:
// JobStateChangeFunctionArn for EventDeliveryDeadLetterQueueUrl, ReconcileFunctionArn for
// ExecutionEventDeadLetterQueueUrl, SubmitJobFunctionArn for SpokeSubmitDeadLetterQueueUrl. Region and endpoints
// come from the usual AWS_* environment variables.
var options = new Dictionary<string, string>();
for (var i = 0; i + 1 < args.Length; i += 2)
{
    options[args[i].TrimStart('-')] = args[i + 1];
}
if (!options.TryGetValue("queue-url", out var queueUrl))
{
    Console.Error.WriteLine("usage: batchsync-redrive --queue-url <dead-letter queue URL> [--function <function name or ARN>] [--max N]");
    return 2;
}
options.TryGetValue("function", out var defaultFunction);
var max = options.TryGetValue("max", out var m) && int.TryParse(m, out var n) ? n : int.MaxValue;

var settings = AwsSettings.FromEnvironment();
var lambda = AwsTransport.Create(settings, "LAMBDA", "lambda", "lambda", "AWSLambda");
var sqsConfig = new AmazonSQSConfig { AuthenticationRegion = settings.Region };
settings.ApplyEndpoint(sqsConfig, "SQS");

var redriver = new Redriver(new AmazonSQSClient(sqsConfig), async (function, payload) =>
{
    var answer = await lambda.SendAsync("Invoke", $"2015-03-31/functions/{Uri.EscapeDataString(function)}/invocations",
        "application/json", payload, Idempotency.Safe);
    using var doc = JsonDocument.Parse(answer.Length == 0 ? "{}"u8.ToArray() : answer);
    if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("errorType", out var type))
    {
        throw new InvalidOperationException($"{type.GetString()}: {Encoding.UTF8.GetString(answer)}");
    }
}, defaultFunction);
var report = await redriver.RunAsync(queueUrl, max);
Console.WriteLine($"read {report.Read}, redriven {report.Redriven}, still refused {report.Failed}");
return report.Failed == 0 ? 0 : 1;
