using System.Text.Json.Nodes;
using Amazon.SQS.Model;
using BatchSync.Aws;
using BatchSync.Composition;

namespace BatchSync.LocalWorld;

/// <summary>
/// A hub and its spokes on one moto server (issue 20), as the templates make them: the hub stack in moto's default
/// account (its table, the spokes' bus <c>&lt;stack&gt;-spokes</c> with template.yaml's two rules, each delivering to
/// an SQS queue that stands in for its function), and each tenant's spoke stack in its own account and region
/// (spoke.yaml's role, with its trust policy, and its rules on the tenant's default bus, targeting the hub's bus).
/// STS goes through a <see cref="StsGate"/>, which refuses what AWS would (moto grants every AssumeRole); the hub's
/// functions run in this process as a session of a hub function role (<c>&lt;stack&gt;-SubmitJobFunctionRole-…</c>),
/// the principal the spoke roles trust.
/// </summary>
public sealed class HubAndSpokes : IDisposable
{
    private readonly List<Tenant> _tenants = [];

    private HubAndSpokes(MotoServer server, AwsWorld hub, StsGate gate, AccountCredentials hubRole, string busArn)
    {
        Server = server;
        Hub = hub;
        Gate = gate;
        HubFunctionRole = hubRole;
        BusArn = busArn;
    }

    public MotoServer Server { get; }
    public AwsWorld Hub { get; }
    public StsGate Gate { get; }
    public AccountCredentials HubFunctionRole { get; }
    /// <summary>The spokes' event bus (template.yaml's SpokeEventBus).</summary>
    public string BusArn { get; }
    /// <summary>What SpokeSubmitJobRule delivered (relayed SubmitJob requests; SubmitJob's stand-in).</summary>
    public string SubmitQueueUrl { get; private set; } = "";
    /// <summary>What SpokeExecutionStatusChangeRule delivered (the spokes' stops; Reconcile's stand-in).</summary>
    public string StopQueueUrl { get; private set; } = "";
    public string SubmitJobFunctionArn { get; private set; } = "";
    public IReadOnlyList<Tenant> Tenants => _tenants;

    public static async Task<HubAndSpokes> CreateAsync(MotoServer server, string hubRegion, string stackName)
    {
        var hub = new AwsWorld(server, hubRegion, stackName);
        await hub.CreateTableFromTemplateAsync();
        var hubRole = await Accounts.ActAsAsync(server.Endpoint, AwsWorld.Account, $"{stackName}-SubmitJobFunctionRole-LOCAL", hubRegion);
        var bus = await hub.EventsAsync("CreateEventBus", new JsonObject { ["Name"] = $"{stackName}-spokes" });
        var world = new HubAndSpokes(server, hub, new StsGate(server.Endpoint), hubRole, (string)bus["EventBusArn"]!);
        var values = new Dictionary<string, string> { ["AWS::StackName"] = stackName };
        world.SubmitQueueUrl = await world.RouteOnBusAsync("SpokeSubmitJobRule", values);
        world.StopQueueUrl = await world.RouteOnBusAsync("SpokeExecutionStatusChangeRule", values);
        var (_, _, role) = await hub.CreateBatchAsync($"{stackName}-hub");
        world.SubmitJobFunctionArn = await hub.CreateStandInFunctionAsync($"{stackName}-SubmitJob", role);
        return world;
    }

    private async Task<string> RouteOnBusAsync(string rule, IReadOnlyDictionary<string, string> values)
    {
        var pattern = SamTemplate.Property(SamTemplate.Json, rule, "EventPattern", values);
        var name = $"{Hub.StackName}-{rule}";
        var queueUrl = (await Hub.Sqs.CreateQueueAsync(name)).QueueUrl;
        var queueArn = (await Hub.Sqs.GetQueueAttributesAsync(queueUrl, ["QueueArn"])).QueueARN;
        var bus = $"{Hub.StackName}-spokes";
        await Hub.EventsAsync("PutRule", new JsonObject { ["Name"] = name, ["EventBusName"] = bus, ["EventPattern"] = pattern.ToJsonString() });
        await Hub.EventsAsync("PutTargets", new JsonObject { ["Rule"] = name, ["EventBusName"] = bus, ["Targets"] = new JsonArray(new JsonObject { ["Id"] = "function", ["Arn"] = queueArn }) });
        return queueUrl;
    }

    /// <summary>A tenant's spoke stack in this account and region, and its queue and job definition in the hub's Batch (named for it).</summary>
    public async Task<Tenant> AddTenantAsync(string account, string region)
    {
        var admin = await Accounts.WorldAsync(Server.Endpoint, account, region);
        var values = new Dictionary<string, string>
        {
            ["AWS::Partition"] = "aws", ["AWS::Region"] = region, ["AWS::AccountId"] = account,
            ["HubAccountId"] = AwsWorld.Account, ["HubRegion"] = Hub.Region, ["HubStackName"] = Hub.StackName, ["HubEventBusArn"] = BusArn,
            ["SubmitJobFunctionArn"] = SubmitJobFunctionArn,
        };
        var roleName = (string)SamTemplate.Property(SamTemplate.Spoke, "SpokeRole", "RoleName", values)!;
        var roleArn = $"arn:aws:iam::{account}:role/{roleName}";
        if (!_tenants.Any(t => t.Account == account))
        {
            // IAM is global: the spoke stack in the hub's region makes the role (spoke.yaml's MakesSpokeRole).
            await admin.CreateRoleAsync(roleName, SamTemplate.Property(SamTemplate.Spoke, "SpokeRole", "AssumeRolePolicyDocument", values).AsObject());
        }
        await PutSpokeRuleAsync(admin, "ForwardExecutionStatusChangeRule", values);
        if (region != Hub.Region)
        {
            await PutSpokeRuleAsync(admin, "RelaySubmitJobRule", values);
        }
        var (queue, definition, _) = await Hub.CreateBatchAsync($"{account}-{region}");
        var tenant = new Tenant(this, admin, roleArn, queue, definition);
        _tenants.Add(tenant);
        return tenant;
    }

    private static async Task PutSpokeRuleAsync(SpokeWorld admin, string rule, IReadOnlyDictionary<string, string> values)
    {
        var pattern = SamTemplate.Property(SamTemplate.Spoke, rule, "EventPattern", values);
        await admin.EventsAsync("PutRule", new JsonObject { ["Name"] = rule, ["EventPattern"] = pattern.ToJsonString() });
        await admin.EventsAsync("PutTargets", new JsonObject
        {
            ["Rule"] = rule,
            ["Targets"] = new JsonArray(new JsonObject { ["Id"] = "HubEventBus", ["Arn"] = values["HubEventBusArn"], ["RoleArn"] = $"arn:aws:iam::{admin.Account}:role/forward-to-hub" }),
        });
    }

    /// <summary>The functions' environment: the hub's, STS (and everything) through the gate, the tenants served.</summary>
    public Func<string, string?> Environment(IReadOnlyDictionary<string, string?>? extra = null)
    {
        var tenants = string.Join(',', _tenants.Select(t => t.Account).Distinct());
        return name => extra is not null && extra.TryGetValue(name, out var given) ? given : name switch
        {
            "AWS_ENDPOINT_URL" => Gate.Endpoint,
            "BATCHSYNC_ACCOUNT_ID" => AwsWorld.Account,
            "BATCHSYNC_TENANT_ACCOUNTS" => tenants,
            _ => Hub.Settings.Value(name),
        };
    }

    /// <summary>A function process's host (a cold start: its own spoke credentials), assuming spoke roles as the hub function role.</summary>
    public FunctionHost NewHost(IReadOnlyDictionary<string, string?>? extra = null, TimeProvider? clock = null)
    {
        var settings = BatchSyncSettings.From(new AwsSettings(Environment(extra)));
        return new FunctionHost(settings, clock ?? TimeProvider.System, new StsRoleAssumer(settings.Aws, "BatchSync-local", HubFunctionRole.ToAws()));
    }

    /// <summary>Messages a hub rule delivered to its stand-in queue (waits until <paramref name="expect"/> arrived or the queue stays empty 1 s).</summary>
    public async Task<IReadOnlyList<JsonObject>> ReceiveAsync(string queueUrl, int expect)
    {
        var delivered = new List<JsonObject>();
        while (delivered.Count < expect)
        {
            var received = await Hub.Sqs.ReceiveMessageAsync(new ReceiveMessageRequest { QueueUrl = queueUrl, MaxNumberOfMessages = 10, WaitTimeSeconds = 1 });
            if (received.Messages is not { Count: > 0 })
            {
                break;
            }
            foreach (var m in received.Messages)
            {
                delivered.Add(JsonNode.Parse(m.Body)!.AsObject());
                await Hub.Sqs.DeleteMessageAsync(queueUrl, m.ReceiptHandle);
            }
        }
        return delivered;
    }

    public void Dispose() => Gate.Dispose();
}

/// <summary>One tenant's spoke: its account's clients in its region, its state machines, what it sends the hub.</summary>
public sealed class Tenant(HubAndSpokes hub, SpokeWorld world, string roleArn, string queue, string definition)
{
    public SpokeWorld World { get; } = world;
    public string Account => World.Account;
    public string Region => World.Region;
    /// <summary>spoke.yaml's SpokeRole in this account.</summary>
    public string RoleArn { get; } = roleArn;
    /// <summary>The hub's job queue and definition for this tenant (named &lt;account&gt;-…, as TenantJobQueues' default wants).</summary>
    public string JobQueue { get; } = queue;
    public string JobDefinition { get; } = definition;
    public bool InHubRegion => Region == hub.Hub.Region;

    /// <summary>
    /// Starts the README's spoke example (examples/spoke-state-machine.asl.json in the hub's region, else
    /// spoke-other-region-state-machine.asl.json) with HeartbeatSeconds and TimeoutSeconds on its task: moto answers a
    /// heartbeat InvalidToken without them, and times a HeartbeatSeconds state out after 60 s without TimeoutSeconds.
    /// </summary>
    public async Task<string> StartAsync(string name, JsonObject? input = null)
    {
        var file = InHubRegion ? "spoke-state-machine.asl.json" : "spoke-other-region-state-machine.asl.json";
        var text = File.ReadAllText(Path.Combine(SamTemplate.RepoRoot, "examples", file))
            .Replace("${SubmitJobFunctionArn}", hub.SubmitJobFunctionArn).Replace("${JobQueue}", JobQueue).Replace("${JobDefinition}", JobDefinition);
        var definition = JsonNode.Parse(text)!.AsObject();
        var task = definition["States"]!["RunBatchJob"]!.AsObject();
        task["HeartbeatSeconds"] = 600;
        task["TimeoutSeconds"] = 3600;
        var role = $"arn:aws:iam::{Account}:role/{Accounts.HarnessRole}";
        var machine = await World.SfnAsync("CreateStateMachine", new JsonObject { ["name"] = name, ["definition"] = definition.ToJsonString(), ["roleArn"] = role });
        var execution = await World.SfnAsync("StartExecution", new JsonObject
        {
            ["stateMachineArn"] = (string)machine["stateMachineArn"]!, ["name"] = $"{name}-run",
            ["input"] = (input ?? new JsonObject { ["inputFile"] = "s3://reports/in.csv", ["date"] = "2026-12-03" }).ToJsonString(),
        });
        return (string)execution["executionArn"]!;
    }

    /// <summary>What the execution's task sent: the Lambda Payload (hub's region) or the event's Detail (another region), once scheduled.</summary>
    public async Task<JsonObject> ScheduledRequestAsync(string executionArn)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            foreach (var e in await World.HistoryAsync(executionArn))
            {
                if ((string?)e!["type"] == "TaskScheduled")
                {
                    var parameters = JsonNode.Parse((string)e["taskScheduledEventDetails"]!["parameters"]!)!;
                    var detail = parameters["Payload"] ?? parameters["Entries"]![0]!["Detail"]!;
                    return (detail is JsonValue text ? JsonNode.Parse((string)text!)! : detail).AsObject();
                }
            }
            await Task.Delay(200);
        }
        throw new TimeoutException("The execution never scheduled its task.");
    }

    /// <summary>
    /// Puts the request on this spoke's default bus, as its task does on AWS (moto's interpreter puts it on the default
    /// account's bus instead: /work/notes facts b), for its RelaySubmitJobRule to forward to the hub; returns what the
    /// hub's SpokeSubmitJobRule delivered, with the account and region the event was put from, which AWS keeps and
    /// moto's bus-to-bus forwarding drops.
    /// </summary>
    public async Task<JsonObject> RelayAsync(JsonObject detail)
    {
        await PutAsync("batchsync.spoke", "BatchSync SubmitJob", detail, []);
        var delivered = Assert(await hub.ReceiveAsync(hub.SubmitQueueUrl, 1), "SpokeSubmitJobRule");
        delivered["account"] = Account;
        delivered["region"] = Region;
        return delivered;
    }

    /// <summary>
    /// Puts a "Step Functions Execution Status Change" event on this spoke's default bus (moto's executions send none);
    /// returns what the hub's SpokeExecutionStatusChangeRule delivered (with the account and region AWS keeps), or null.
    /// </summary>
    public async Task<JsonObject?> SendStatusChangeAsync(string executionArn, string status)
    {
        var execution = await World.SfnAsync("DescribeExecution", new JsonObject { ["executionArn"] = executionArn });
        return await SendAsync(executionArn, (string)execution["stateMachineArn"]!, status);
    }

    /// <summary>
    /// A status change this spoke forwards about an execution that is not its own (under one of its own state
    /// machines' ARNs, so that its rule forwards it): what a tenant trying to stop another tenant's jobs can send.
    /// </summary>
    public Task<JsonObject?> SendStatusChangeForAsync(string executionArn, string status) =>
        SendAsync(executionArn, $"arn:aws:states:{Region}:{Account}:stateMachine:forged", status);

    private async Task<JsonObject?> SendAsync(string executionArn, string stateMachineArn, string status)
    {
        var detail = new JsonObject
        {
            ["executionArn"] = executionArn, ["stateMachineArn"] = stateMachineArn,
            ["name"] = executionArn.Split(':')[^1], ["status"] = status, ["stopDate"] = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
        };
        await PutAsync("aws.states", "Step Functions Execution Status Change", detail, [executionArn]);
        var delivered = await hub.ReceiveAsync(hub.StopQueueUrl, 1);
        if (delivered.Count == 0)
        {
            return null;
        }
        delivered[0]["account"] = Account;
        delivered[0]["region"] = Region;
        return delivered[0];
    }

    private async Task PutAsync(string source, string detailType, JsonObject detail, string[] resources)
    {
        var answer = await World.EventsAsync("PutEvents", new JsonObject
        {
            ["Entries"] = new JsonArray(new JsonObject
            {
                ["Source"] = source, ["DetailType"] = detailType, ["Detail"] = detail.ToJsonString(),
                ["Resources"] = new JsonArray(resources.Select(r => (JsonNode)JsonValue.Create(r)!).ToArray()),
            }),
        });
        if ((int)answer["FailedEntryCount"]! != 0)
        {
            throw new InvalidOperationException($"EventBridge refused an event (PutEvents): {answer.ToJsonString()}");
        }
    }

    private static JsonObject Assert(IReadOnlyList<JsonObject> delivered, string rule) =>
        delivered.Count == 1 ? delivered[0] : throw new InvalidOperationException($"The hub's {rule} delivered {delivered.Count} events, not 1.");

    public Task<JsonObject> WaitForExecutionAsync(string executionArn, TimeSpan? timeout = null) =>
        WaitAsync(executionArn, e => (string?)e["status"] != "RUNNING", timeout);

    private async Task<JsonObject> WaitAsync(string executionArn, Func<JsonObject, bool> done, TimeSpan? timeout)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            var execution = (await World.SfnAsync("DescribeExecution", new JsonObject { ["executionArn"] = executionArn })).AsObject();
            if (done(execution) || DateTime.UtcNow > deadline)
            {
                return execution;
            }
            await Task.Delay(200);
        }
    }
}
