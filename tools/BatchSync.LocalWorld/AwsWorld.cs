using System.IO.Compression;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.SQS;
using BatchSync.Domain;
using BatchSync.Aws;
using BatchSync.Store;

namespace BatchSync.LocalWorld;

/// <summary>One region of a moto server, with the clients and setup calls the integration tests and the playground need.</summary>
public sealed class AwsWorld
{
    public const string Account = "123456789012";
    private readonly Dictionary<string, string?> _env;

    public AwsWorld(MotoServer server, string region, string stackName = "batchsync-test")
        : this(server.Endpoint, region, stackName)
    {
        _server = server;
    }

    /// <summary>A world at any AWS-compatible endpoint (another moto, LocalStack...), with no server of its own.</summary>
    public AwsWorld(string endpoint, string region, string stackName = "batchsync-test")
    {
        Endpoint = endpoint.TrimEnd('/');
        Region = region;
        StackName = stackName;
        TableName = $"{stackName}-jobs";
        _env = new Dictionary<string, string?>
        {
            ["AWS_REGION"] = region,
            ["AWS_ENDPOINT_URL"] = Endpoint,
            ["BATCHSYNC_TABLE"] = TableName,
            ["BATCHSYNC_NAMESPACE"] = stackName,
            // The sweep's clock, fast: a record is due for its first check 60 ms after submit (deployed: 5 minutes),
            // so a test's sweep right after a lost event or a lost submit answer sees the record.
            ["BATCHSYNC_SWEEP_INTERVAL_MINUTES"] = "0.001",
            ["BATCHSYNC_MAX_CHECK_INTERVAL_MINUTES"] = "0.01",
        };
        Settings = new AwsSettings(n => _env.GetValueOrDefault(n));
        Batch = BatchClient.Create(Settings);
        StepFunctions = StepFunctionsClient.Create(Settings);
        Dynamo = new AmazonDynamoDBClient(new AmazonDynamoDBConfig { ServiceURL = Endpoint, AuthenticationRegion = region });
        Sqs = new AmazonSQSClient(new AmazonSQSConfig { ServiceURL = Endpoint, AuthenticationRegion = region });
        Store = DynamoRecordStore.Create(Settings, TimeProvider.System);
    }

    /// <summary>
    /// The store on this world's table, each call waiting up to <paramref name="attemptTimeout"/> (benchmarks: moto
    /// answers a query over 10,000 items in seconds, since it filters in Python).
    /// </summary>
    public DynamoRecordStore PatientStore(TimeSpan attemptTimeout) => DynamoRecordStore.Create(
        new AwsSettings(name => name == "BATCHSYNC_ATTEMPT_TIMEOUT_MS"
            ? ((long)attemptTimeout.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture)
            : Settings.Value(name)), TimeProvider.System);

    /// <summary>The harness's own calls wait longer than the functions': moto can be slow with a large history.</summary>
    private static readonly RetryPolicy HarnessRetry = new() { AttemptTimeout = TimeSpan.FromSeconds(60) };

    private readonly MotoServer? _server;

    /// <summary>The moto server this world runs on (absent for a world made from an endpoint).</summary>
    public MotoServer Server => _server ?? throw new InvalidOperationException($"This world at {Endpoint} has no moto server of its own.");

    public string Endpoint { get; }
    public string Region { get; }
    public string StackName { get; }
    public string TableName { get; }
    public AwsSettings Settings { get; }
    public BatchClient Batch { get; }
    public StepFunctionsClient StepFunctions { get; }
    public IAmazonDynamoDB Dynamo { get; }
    public IAmazonSQS Sqs { get; }
    public DynamoRecordStore Store { get; }

    /// <summary>Points the process environment at this world, as the Lambda runtime's environment would be.</summary>
    public void ExportEnvironment(string? endpoint = null, IReadOnlyDictionary<string, string?>? extra = null)
    {
        foreach (var (name, value) in _env)
        {
            Environment.SetEnvironmentVariable(name, name == "AWS_ENDPOINT_URL" && endpoint is not null ? endpoint : value);
        }
        foreach (var name in new[] { "BATCHSYNC_ATTEMPT_TIMEOUT_MS", "BATCHSYNC_INVOCATION_BUDGET_SECONDS" })
        {
            Environment.SetEnvironmentVariable(name, extra?.GetValueOrDefault(name));
        }
        foreach (var (name, value) in extra ?? new Dictionary<string, string?>())
        {
            if (name.StartsWith("BATCHSYNC_", StringComparison.Ordinal))
            {
                Environment.SetEnvironmentVariable(name, value);
            }
        }
    }

    public async Task<JsonNode> CallAsync(string signingName, string operation, string path, string contentType, string body, string? target = null)
    {
        var transport = new AwsTransport(SignedHttp(signingName), new Uri(Endpoint + "/"), signingName, HarnessRetry);
        var headers = target is null ? null : new Dictionary<string, string> { ["X-Amz-Target"] = target };
        var answer = await transport.SendAsync(operation, path, contentType, Encoding.UTF8.GetBytes(body), Idempotency.Safe, headers);
        return answer.Length == 0 ? new JsonObject() : JsonNode.Parse(answer) ?? new JsonObject();
    }

    private HttpClient SignedHttp(string signingName) =>
        new(new Amazon.Runtime.Signing.SigV4SigningHandler(
            Amazon.Runtime.Credentials.DefaultAWSCredentialsIdentityResolver.GetCredentials(),
            Amazon.RegionEndpoint.GetBySystemName(Region), signingName, new HttpClientHandler()));

    public Task<JsonNode> BatchAsync(string operation, JsonObject body) =>
        CallAsync("batch", operation, "v1/" + operation.ToLowerInvariant(), "application/json", JsonText.ToText(body));

    public Task<JsonNode> SfnAsync(string operation, JsonObject body) =>
        CallAsync("states", operation, "", "application/x-amz-json-1.0", JsonText.ToText(body), $"AWSStepFunctions.{operation}");

    public Task<JsonNode> EventsAsync(string operation, JsonObject body) =>
        CallAsync("events", operation, "", "application/x-amz-json-1.1", JsonText.ToText(body), $"AWSEvents.{operation}");

    /// <summary>A role, an unmanaged compute environment, a queue and a job definition.</summary>
    public async Task<(string Queue, string Definition, string RoleArn)> CreateBatchAsync(string prefix = "batchsync")
    {
        var roleArn = await CreateRoleAsync($"{prefix}-role-{Region}");
        var ce = await BatchAsync("CreateComputeEnvironment", new JsonObject
        {
            ["computeEnvironmentName"] = $"{prefix}-ce", ["type"] = "UNMANAGED", ["state"] = "ENABLED", ["serviceRole"] = roleArn,
        });
        await BatchAsync("CreateJobQueue", new JsonObject
        {
            ["jobQueueName"] = $"{prefix}-queue", ["state"] = "ENABLED", ["priority"] = 1,
            ["computeEnvironmentOrder"] = new JsonArray(new JsonObject { ["order"] = 1, ["computeEnvironment"] = (string)ce["computeEnvironmentArn"]! }),
        });
        await BatchAsync("RegisterJobDefinition", new JsonObject
        {
            ["jobDefinitionName"] = $"{prefix}-report", ["type"] = "container",
            ["containerProperties"] = new JsonObject
            {
                ["image"] = "busybox", ["vcpus"] = 1, ["memory"] = 128,
                ["command"] = new JsonArray("report", "Ref::InputFile"),
            },
        });
        return ($"{prefix}-queue", $"{prefix}-report", roleArn);
    }

    public async Task<string> CreateRoleAsync(string name)
    {
        var form = $"Action=CreateRole&Version=2010-05-08&RoleName={name}&AssumeRolePolicyDocument={Uri.EscapeDataString("{}")}";
        var transport = new AwsTransport(SignedHttp("iam"), new Uri(Endpoint + "/"), "iam");
        await transport.SendAsync("CreateRole", "", "application/x-www-form-urlencoded", Encoding.UTF8.GetBytes(form), Idempotency.Safe);
        return $"arn:aws:iam::{Account}:role/{name}";
    }

    /// <summary>The table exactly as template.yaml declares it (keys, index, billing).</summary>
    public async Task CreateTableFromTemplateAsync()
    {
        var props = SamTemplate.Resource("JobTable")["Properties"]!;
        var request = new CreateTableRequest
        {
            TableName = TableName,
            BillingMode = BillingMode.FindValue((string)props["BillingMode"]!),
            AttributeDefinitions = props["AttributeDefinitions"]!.AsArray().Select(a => new AttributeDefinition((string)a!["AttributeName"]!, (string)a["AttributeType"]!)).ToList(),
            KeySchema = props["KeySchema"]!.AsArray().Select(k => new KeySchemaElement((string)k!["AttributeName"]!, (string)k["KeyType"]!)).ToList(),
            GlobalSecondaryIndexes = props["GlobalSecondaryIndexes"]!.AsArray().Select(g => new GlobalSecondaryIndex
            {
                IndexName = (string)g!["IndexName"]!,
                KeySchema = g["KeySchema"]!.AsArray().Select(k => new KeySchemaElement((string)k!["AttributeName"]!, (string)k["KeyType"]!)).ToList(),
                Projection = new Projection { ProjectionType = (string)g["Projection"]!["ProjectionType"]! },
            }).ToList(),
        };
        await Dynamo.CreateTableAsync(request);
    }

    /// <summary>A Lambda function in moto that state machines can invoke (its code never runs: the test or playground plays Lambda).</summary>
    public async Task<string> CreateStandInFunctionAsync(string name, string roleArn)
    {
        using var zip = new MemoryStream();
        using (var archive = new ZipArchive(zip, ZipArchiveMode.Create, leaveOpen: true))
        {
            using var writer = new StreamWriter(archive.CreateEntry("handler.py").Open());
            writer.Write("def handler(event, context):\n    return event\n");
        }
        var body = new JsonObject
        {
            ["FunctionName"] = name, ["Runtime"] = "python3.12", ["Role"] = roleArn, ["Handler"] = "handler.handler",
            ["Code"] = new JsonObject { ["ZipFile"] = Convert.ToBase64String(zip.ToArray()) },
        };
        var answer = await CallAsync("lambda", "CreateFunction", "2015-03-31/functions", "application/json", JsonText.ToText(body));
        return (string)answer["FunctionArn"]!;
    }

    /// <summary>The EventBridge event Batch would send for this job now (moto's Batch sends none): built from DescribeJobs.</summary>
    public async Task<JsonObject> JobStateChangeEventAsync(string jobId)
    {
        var detail = (await Batch.DescribeJobDetailsAsync([jobId])).Single();
        return BuildEvent(JsonNode.Parse(detail.GetRawText())!.AsObject());
    }

    public JsonObject BuildEvent(JsonObject detail) => new()
    {
        ["version"] = "0",
        ["id"] = Guid.NewGuid().ToString(),
        ["detail-type"] = "Batch Job State Change",
        ["source"] = "aws.batch",
        ["account"] = Account,
        ["time"] = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ"),
        ["region"] = Region,
        ["resources"] = new JsonArray((string)detail["jobArn"]!),
        ["detail"] = detail,
    };

    /// <summary>
    /// Puts the template's rule (pattern from template.yaml) on moto's EventBridge with an SQS target, sends the events,
    /// and returns what the rule delivered.
    /// </summary>
    public async Task<IReadOnlyList<JsonObject>> DeliverThroughRuleAsync(IEnumerable<JsonObject> events, JsonObject? pattern = null)
    {
        var route = await CreateRouteAsync(pattern ?? SamTemplate.RulePattern(StackName));
        return await route.DeliverAsync(events);
    }

    /// <summary>An EventBridge rule with this pattern on moto, whose target is an SQS queue standing in for the function.</summary>
    public async Task<RuleRoute> CreateRouteAsync(JsonObject pattern, string? name = null)
    {
        var rule = name ?? $"{StackName}-rule-{Guid.NewGuid():N}"[..40];
        var queueUrl = (await Sqs.CreateQueueAsync(rule)).QueueUrl;
        var queueArn = (await Sqs.GetQueueAttributesAsync(queueUrl, ["QueueArn"])).QueueARN;
        await EventsAsync("PutRule", new JsonObject { ["Name"] = rule, ["EventPattern"] = pattern.ToJsonString() });
        await EventsAsync("PutTargets", new JsonObject { ["Rule"] = rule, ["Targets"] = new JsonArray(new JsonObject { ["Id"] = "target", ["Arn"] = queueArn }) });
        return new RuleRoute(this, rule, queueUrl);
    }

    /// <summary>The template's SQS queues (dead-letter and failed-invocation queues), named &lt;stack&gt;-&lt;logical id&gt;.</summary>
    public async Task<IReadOnlyDictionary<string, string>> CreateTemplateQueuesAsync()
    {
        var urls = new Dictionary<string, string>();
        foreach (var logicalId in SamTemplate.Queues())
        {
            urls[logicalId] = (await Sqs.CreateQueueAsync($"{StackName}-{logicalId}")).QueueUrl;
        }
        return urls;
    }

    /// <summary>An EventBridge rule on moto and the SQS queue it delivers to.</summary>
    public sealed class RuleRoute(AwsWorld world, string rule, string queueUrl)
    {
        public string Rule { get; } = rule;
        public string QueueUrl { get; } = queueUrl;

        /// <summary>Sends the events to moto's EventBridge (PutEvents) and returns what the rule delivered to its queue.</summary>
        /// <param name="events">The events, as EventBridge takes them.</param>
        /// <param name="expect">Stop waiting once this many were delivered (otherwise: once the queue stays empty for 1 s).</param>
        public async Task<IReadOnlyList<JsonObject>> DeliverAsync(IEnumerable<JsonObject> events, int? expect = null)
        {
            foreach (var evt in events)
            {
                var answer = await world.EventsAsync("PutEvents", new JsonObject
                {
                    ["Entries"] = new JsonArray(new JsonObject
                    {
                        ["Source"] = (string)evt["source"]!,
                        ["DetailType"] = (string)evt["detail-type"]!,
                        ["Resources"] = evt["resources"]!.DeepClone(),
                        ["Detail"] = evt["detail"]!.ToJsonString(),
                    }),
                });
                if ((int)answer["FailedEntryCount"]! != 0)
                {
                    throw new InvalidOperationException($"EventBridge refused an event (PutEvents): {answer.ToJsonString()}");
                }
            }
            var delivered = new List<JsonObject>();
            while (delivered.Count < (expect ?? int.MaxValue))
            {
                var received = await world.Sqs.ReceiveMessageAsync(new Amazon.SQS.Model.ReceiveMessageRequest { QueueUrl = QueueUrl, MaxNumberOfMessages = 10, WaitTimeSeconds = 1 });
                if (received.Messages is not { Count: > 0 })
                {
                    return delivered;
                }
                delivered.AddRange(received.Messages.Select(m => JsonNode.Parse(m.Body)!.AsObject()));
                foreach (var m in received.Messages)
                {
                    await world.Sqs.DeleteMessageAsync(QueueUrl, m.ReceiptHandle);
                }
            }
            return delivered;
        }
    }

    /// <summary>The "Step Functions Execution Status Change" event for an execution as it is now.</summary>
    public async Task<JsonObject> ExecutionStatusChangeEventAsync(string executionArn, string? status = null)
    {
        var execution = await SfnAsync("DescribeExecution", new JsonObject { ["executionArn"] = executionArn });
        return new JsonObject
        {
            ["version"] = "0",
            ["id"] = Guid.NewGuid().ToString(),
            ["detail-type"] = "Step Functions Execution Status Change",
            ["source"] = "aws.states",
            ["account"] = Account,
            ["time"] = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ"),
            ["region"] = Region,
            ["resources"] = new JsonArray(executionArn),
            ["detail"] = new JsonObject
            {
                ["executionArn"] = executionArn,
                ["stateMachineArn"] = execution["stateMachineArn"]?.DeepClone(),
                ["name"] = execution["name"]?.DeepClone(),
                ["status"] = status ?? (string?)execution["status"],
            },
        };
    }

    public static JsonObject ScheduledEvent() => new()
    {
        ["version"] = "0", ["id"] = Guid.NewGuid().ToString(), ["detail-type"] = "Scheduled Event", ["source"] = "aws.events",
        ["account"] = Account, ["time"] = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ"), ["resources"] = new JsonArray(), ["detail"] = new JsonObject(),
    };

    public async Task<JsonObject> WaitForExecutionAsync(string executionArn, Func<JsonObject, bool> done, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            var execution = (await SfnAsync("DescribeExecution", new JsonObject { ["executionArn"] = executionArn })).AsObject();
            if (done(execution) || DateTime.UtcNow > deadline)
            {
                return execution;
            }
            await Task.Delay(200);
        }
    }

    public async Task<JsonArray> HistoryAsync(string executionArn) =>
        (await SfnAsync("GetExecutionHistory", new JsonObject { ["executionArn"] = executionArn }))["events"]!.AsArray();

    /// <summary>The Lambda payload of the execution's first waitForTaskToken task, once it is scheduled.</summary>
    public async Task<JsonObject> ScheduledPayloadAsync(string executionArn)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            foreach (var e in await HistoryAsync(executionArn))
            {
                if ((string?)e!["type"] == "TaskScheduled")
                {
                    var parameters = JsonNode.Parse((string)e["taskScheduledEventDetails"]!["parameters"]!)!;
                    return parameters["Payload"]!.AsObject();
                }
            }
            await Task.Delay(200);
        }
        throw new TimeoutException("The execution never scheduled its task.");
    }

    public static async Task<JsonObject> InvokeAsync(Func<Stream, Task<Stream>> handler, JsonNode payload)
    {
        using var output = await handler(new MemoryStream(Encoding.UTF8.GetBytes(payload.ToJsonString())));
        return JsonNode.Parse(output)!.AsObject();
    }

    public static bool IsStatusCode(Exception e, HttpStatusCode code) => e is AwsServiceException s && s.StatusCode == code;

    public static JsonElement Element(JsonNode node) => JsonDocument.Parse(node.ToJsonString()).RootElement.Clone();
}
