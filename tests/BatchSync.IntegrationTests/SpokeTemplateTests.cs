using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace BatchSync.IntegrationTests;

/// <summary>
/// Serving other accounts and regions (issue 20): spoke.yaml decoded by cfn-lint, and template.yaml after the SAM
/// transform (tools/sam_transform.py) with tenants configured and without, each evaluated as CloudFormation would
/// deploy it for given parameters (conditions, Fn::If, Fn::Select/Split/Sub) by <see cref="Deployment"/>.
/// </summary>
public class SpokeTemplateTests
{
    private const string Hub = "111122223333";
    private const string Spoke = "444455556666";
    private const string HubBus = "arn:aws:events:us-east-1:111122223333:event-bus/batchsync-spokes";
    private const string SubmitJob = "arn:aws:lambda:us-east-1:111122223333:function:batchsync-SubmitJobFunction-abc";
    private static readonly string[] Functions = ["SubmitJobFunction", "JobStateChangeFunction", "CallbackFunction", "ReconcileFunction"];

    private static Deployment SpokeIn(string region, string kmsKey = "", string prefix = "") => new(Decode("spoke.yaml"), new()
    {
        ["HubAccountId"] = Hub, ["HubRegion"] = "us-east-1", ["HubStackName"] = "batchsync", ["HubEventBusArn"] = HubBus,
        ["SubmitJobFunctionArn"] = SubmitJob, ["KmsKeyArn"] = kmsKey, ["StateMachinePrefix"] = prefix,
    }, Spoke, region);

    // ---- spoke.yaml

    [Fact]
    public void The_spoke_has_no_code_and_in_the_hubs_region_the_role_the_forwarding_rule_and_the_state_machine_policy()
    {
        var template = Decode("spoke.yaml");
        Assert.Null(template["Transform"]);
        Assert.DoesNotContain(template["Resources"]!.AsObject(), r => ((string)r.Value!["Type"]!).StartsWith("AWS::Lambda::") || ((string)r.Value!["Type"]!).StartsWith("AWS::Serverless::"));
        Assert.Equal(["ForwardExecutionStatusChangeRule", "ForwardToHubRole", "SpokeRole", "StateMachinePolicy"], SpokeIn("us-east-1").Resources.Keys.Order());
        Assert.Equal(["ForwardExecutionStatusChangeRule", "ForwardToHubRole", "RelaySubmitJobRule", "StateMachinePolicy"], SpokeIn("eu-west-1").Resources.Keys.Order());
    }

    [Fact]
    public void The_spoke_role_trusts_only_the_hub_stacks_roles_with_the_external_id()
    {
        var role = SpokeIn("us-east-1").Properties("SpokeRole");
        Assert.Equal("BatchSyncSpoke", (string)role["RoleName"]!);
        var statement = Assert.Single(role["AssumeRolePolicyDocument"]!["Statement"]!.AsArray())!;
        Assert.Equal("Allow", (string)statement["Effect"]!);
        Assert.Equal("sts:AssumeRole", (string)statement["Action"]!);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse($$"""{"AWS":"arn:aws:iam::{{Hub}}:root"}"""), statement["Principal"]));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""
            {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/batchsync-*"},
             "StringEquals": {"sts:ExternalId": "batchsync"}}
            """), statement["Condition"]));
    }

    [Fact]
    public void The_spoke_role_may_answer_tasks_describe_the_served_executions_and_use_the_key_only_when_given()
    {
        static List<JsonObject> Statements(Deployment d) => Assert.Single(d.Properties("SpokeRole")["Policies"]!.AsArray())!["PolicyDocument"]!["Statement"]!
            .AsArray().Select(s => s!.AsObject()).ToList();
        var plain = Statements(SpokeIn("us-east-1", prefix: "team-a-"));
        Assert.Equal(["states:DescribeExecution", "states:SendTaskFailure", "states:SendTaskHeartbeat", "states:SendTaskSuccess"], plain.SelectMany(Actions).Order());
        Assert.Equal("*", (string)plain.Single(s => Actions(s).Contains("states:SendTaskSuccess"))["Resource"]!);
        Assert.Equal($"arn:aws:states:*:{Spoke}:execution:team-a-*", (string)plain.Single(s => Actions(s).Contains("states:DescribeExecution"))["Resource"]!);

        const string key = "arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        var encrypted = Statements(SpokeIn("us-east-1", kmsKey: key));
        var kms = Assert.Single(encrypted, s => Actions(s).Any(a => a.StartsWith("kms:")));
        Assert.Equal(["kms:Decrypt", "kms:GenerateDataKey"], Actions(kms).Order());
        Assert.Equal(key, (string)kms["Resource"]!);
        Assert.Equal(plain.SelectMany(Actions).Order(), encrypted.Except([kms]).SelectMany(Actions).Order());
    }

    [Theory]
    [InlineData("us-east-1")]
    [InlineData("eu-west-1")]
    public void The_spoke_forwards_stopped_timed_out_and_failed_executions_of_its_prefix_to_the_hubs_bus_with_its_role(string region)
    {
        var spoke = SpokeIn(region, prefix: "team-a-");
        var rule = spoke.Properties("ForwardExecutionStatusChangeRule");
        Assert.Null(rule["EventBusName"]); // the default bus, where Step Functions sends them
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""
            {"source": ["aws.states"], "detail-type": ["Step Functions Execution Status Change"],
             "detail": {"status": ["ABORTED", "TIMED_OUT", "FAILED"],
                        "stateMachineArn": [{"prefix": "arn:aws:states:REGION:SPOKE:stateMachine:team-a-"}]}}
            """.Replace("REGION", region).Replace("SPOKE", Spoke)), rule["EventPattern"]));
        AssertTargetsTheHubBusWithTheForwardingRole(spoke, rule);
    }

    [Fact]
    public void The_relay_rule_exists_only_in_another_region_than_the_hubs_and_forwards_SubmitJob_requests()
    {
        var template = Decode("spoke.yaml");
        var condition = (string)template["Resources"]!["RelaySubmitJobRule"]!["Condition"]!;
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"Fn::Not":[{"Fn::Equals":[{"Ref":"AWS::Region"},{"Ref":"HubRegion"}]}]}"""), template["Conditions"]![condition]));
        Assert.DoesNotContain("RelaySubmitJobRule", SpokeIn("us-east-1").Resources.Keys);

        var spoke = SpokeIn("eu-west-1");
        var rule = spoke.Properties("RelaySubmitJobRule");
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"source": ["batchsync.spoke"], "detail-type": ["BatchSync SubmitJob"]}"""), rule["EventPattern"]));
        AssertTargetsTheHubBusWithTheForwardingRole(spoke, rule);
    }

    [Theory]
    [InlineData("us-east-1", "arn:aws:states:::lambda:invoke.waitForTaskToken")]
    [InlineData("eu-west-1", "arn:aws:states:::events:putEvents.waitForTaskToken")]
    public void The_state_machine_policy_and_outputs_give_the_task_what_it_needs_in_each_region(string region, string resource)
    {
        var spoke = SpokeIn(region);
        var statement = Assert.Single(spoke.Properties("StateMachinePolicy")["PolicyDocument"]!["Statement"]!.AsArray())!.AsObject();
        Assert.Equal(resource, (string)spoke.Outputs["TaskResource"]!);
        if (region == "us-east-1")
        {
            Assert.Equal(["lambda:InvokeFunction"], Actions(statement));
            Assert.Equal(SubmitJob, (string)statement["Resource"]!);
            Assert.Equal(SubmitJob, (string)spoke.Outputs["TaskFunctionName"]!);
            Assert.DoesNotContain("TaskEventSource", spoke.Outputs.Keys);
        }
        else
        {
            Assert.Equal(["events:PutEvents"], Actions(statement));
            Assert.Equal($"arn:aws:events:{region}:{Spoke}:event-bus/default", (string)statement["Resource"]!);
            Assert.Equal(("default", "batchsync.spoke", "BatchSync SubmitJob"),
                ((string)spoke.Outputs["TaskEventBusName"]!, (string)spoke.Outputs["TaskEventSource"]!, (string)spoke.Outputs["TaskEventDetailType"]!));
            Assert.DoesNotContain("TaskFunctionName", spoke.Outputs.Keys);
        }
    }

    private static void AssertTargetsTheHubBusWithTheForwardingRole(Deployment spoke, JsonObject rule)
    {
        var target = Assert.Single(rule["Targets"]!.AsArray())!;
        Assert.Equal(HubBus, (string)target["Arn"]!);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"Fn::GetAtt":["ForwardToHubRole","Arn"]}"""), target["RoleArn"]));
        var role = spoke.Properties("ForwardToHubRole");
        Assert.Equal("events.amazonaws.com", (string)role["AssumeRolePolicyDocument"]!["Statement"]![0]!["Principal"]!["Service"]!);
        var statement = Assert.Single(Assert.Single(role["Policies"]!.AsArray())!["PolicyDocument"]!["Statement"]!.AsArray())!.AsObject();
        Assert.Equal(["events:PutEvents"], Actions(statement));
        Assert.Equal(HubBus, (string)statement["Resource"]!);
    }

    // ---- template.yaml, the hub

    private static Deployment HubWith(params (string Name, string Value)[] values) =>
        new(Transform(values), values.ToDictionary(v => v.Name, v => v.Value), Hub, "us-east-1");

    private static readonly (string, string) Tenants = ("TenantAccounts", "111111111111,222222222222");
    private static readonly (string, string) Organization = ("OrganizationId", "o-abcdefghij");

    [Fact]
    public void Tenants_listed_by_account_may_invoke_SubmitJob_and_put_events_on_the_spokes_bus_and_no_one_else()
    {
        var hub = HubWith(Tenants);
        var permissions = hub.OfType("AWS::Lambda::Permission").Where(p => (string)p.Value["Principal"]! != "events.amazonaws.com").ToList();
        Assert.Equal(["111111111111", "222222222222"], permissions.Select(p => (string)p.Value["Principal"]!).Order());
        Assert.All(permissions, p =>
        {
            Assert.Equal("lambda:InvokeFunction", (string)p.Value["Action"]!);
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"Ref":"SubmitJobFunction"}"""), p.Value["FunctionName"]));
        });
        var policy = Assert.Single(hub.OfType("AWS::Events::EventBusPolicy")).Value;
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"Ref":"SpokeEventBus"}"""), policy["EventBusName"]));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""
            {"Effect": "Allow", "Principal": {"AWS": ["111111111111", "222222222222"]}, "Action": "events:PutEvents",
             "Resource": {"Fn::GetAtt": ["SpokeEventBus", "Arn"]}}
            """), policy["Statement"]));
    }

    [Fact]
    public void Tenants_of_an_organization_may_invoke_SubmitJob_and_put_events_only_with_its_id()
    {
        var hub = HubWith(Organization);
        var permission = Assert.Single(hub.OfType("AWS::Lambda::Permission"), p => (string)p.Value["Principal"]! != "events.amazonaws.com").Value;
        Assert.Equal(("*", "o-abcdefghij"), ((string)permission["Principal"]!, (string)permission["PrincipalOrgID"]!));
        var policy = Assert.Single(hub.OfType("AWS::Events::EventBusPolicy")).Value;
        Assert.Equal("*", (string)policy["Statement"]!["Principal"]!);
        Assert.Equal("events:PutEvents", (string)policy["Statement"]!["Action"]!);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"StringEquals":{"aws:PrincipalOrgID":"o-abcdefghij"}}"""), policy["Statement"]!["Condition"]));
    }

    [Fact]
    public void Every_function_that_calls_Step_Functions_may_assume_only_the_tenants_spoke_roles()
    {
        var byAccount = Assert.Single(HubWith(Tenants, ("SpokeRoleName", "Spoke")).OfType("AWS::IAM::Policy")).Value;
        Assert.Equal(Functions.Select(f => f + "Role").Order(), byAccount["Roles"]!.AsArray().Select(r => (string)r!["Ref"]!).Order());
        var statement = Assert.Single(byAccount["PolicyDocument"]!["Statement"]!.AsArray())!;
        Assert.Equal("sts:AssumeRole", (string)statement["Action"]!);
        Assert.Equal(["arn:aws:iam::111111111111:role/Spoke", "arn:aws:iam::222222222222:role/Spoke"], statement["Resource"]!.AsArray().Select(r => (string)r!));
        Assert.Null(statement["Condition"]);

        var inOrganization = Assert.Single(HubWith(Organization).OfType("AWS::IAM::Policy")).Value;
        Assert.Equal(Functions.Select(f => f + "Role").Order(), inOrganization["Roles"]!.AsArray().Select(r => (string)r!["Ref"]!).Order());
        var org = Assert.Single(inOrganization["PolicyDocument"]!["Statement"]!.AsArray())!;
        Assert.Equal("sts:AssumeRole", (string)org["Action"]!);
        Assert.Equal("arn:aws:iam::*:role/BatchSyncSpoke", (string)org["Resource"]!);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"StringEquals":{"aws:ResourceOrgID":"o-abcdefghij"}}"""), org["Condition"]));
    }

    [Fact]
    public void Ten_accounts_get_ten_permissions_and_ten_roles_and_an_eleventh_is_refused_by_the_parameter()
    {
        var accounts = Enumerable.Range(1, 10).Select(i => $"{i:D12}").ToList();
        var hub = HubWith(("TenantAccounts", string.Join(',', accounts)));
        Assert.Equal(accounts, hub.OfType("AWS::Lambda::Permission").Select(p => (string)p.Value["Principal"]!).Where(p => p != "events.amazonaws.com").Order());
        var roles = Assert.Single(hub.OfType("AWS::IAM::Policy")).Value["PolicyDocument"]!["Statement"]![0]!["Resource"]!.AsArray();
        Assert.Equal(accounts.Select(a => $"arn:aws:iam::{a}:role/BatchSyncSpoke"), roles.Select(r => (string)r!));
        var pattern = (string)Decode("template.yaml")["Parameters"]!["TenantAccounts"]!["AllowedPattern"]!;
        Assert.Matches(pattern, string.Join(',', accounts));
        Assert.Matches(pattern, "");
        Assert.DoesNotMatch(pattern, string.Join(',', accounts.Append("000000000011")));
        Assert.DoesNotMatch(pattern, "111111111111, 222222222222");
    }

    [Fact]
    public void With_the_defaults_no_other_account_may_invoke_put_events_or_be_assumed()
    {
        var hub = HubWith();
        Assert.All(hub.OfType("AWS::Lambda::Permission"), p => Assert.Equal("events.amazonaws.com", (string)p.Value["Principal"]!));
        Assert.Empty(hub.OfType("AWS::Events::EventBusPolicy"));
        Assert.Empty(hub.OfType("AWS::IAM::Policy"));
        Assert.DoesNotContain("sts:AssumeRole", hub.OfType("AWS::IAM::Role").SelectMany(r => r.Value["Policies"]?.AsArray() ?? [])
            .SelectMany(p => p!["PolicyDocument"]!["Statement"]!.AsArray()).SelectMany(s => s!["Action"] is JsonArray a ? a.Select(x => (string)x!) : [(string)s["Action"]!]));
    }

    [Fact]
    public void The_spokes_bus_sends_status_changes_to_Reconcile_and_relayed_submits_to_SubmitJob()
    {
        var hub = HubWith(Tenants);
        Assert.Equal("batchsync-spokes", (string)hub.Properties("SpokeEventBus")["Name"]!);
        var rules = hub.OfType("AWS::Events::Rule").Where(r => r.Value["EventBusName"] is not null).ToDictionary(r => r.Key, r => r.Value);
        Assert.Equal(["SpokeExecutionStatusChangeRule", "SpokeSubmitJobRule"], rules.Keys.Order());
        Assert.All(rules.Values, r => Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"Ref":"SpokeEventBus"}"""), r["EventBusName"])));

        var status = rules["SpokeExecutionStatusChangeRule"];
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""
            {"source": ["aws.states"], "detail-type": ["Step Functions Execution Status Change"], "detail": {"status": ["ABORTED", "TIMED_OUT", "FAILED"]}}
            """), status["EventPattern"]));
        AssertInvokes(hub, status, "SpokeExecutionStatusChangeRule", "ReconcileFunction", "ExecutionEventDeadLetterQueue");

        var submit = rules["SpokeSubmitJobRule"];
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"source": ["batchsync.spoke"], "detail-type": ["BatchSync SubmitJob"]}"""), submit["EventPattern"]));
        AssertInvokes(hub, submit, "SpokeSubmitJobRule", "SubmitJobFunction", "SpokeSubmitDeadLetterQueue");
    }

    private static void AssertInvokes(Deployment hub, JsonObject rule, string ruleId, string function, string deadLetters)
    {
        var target = Assert.Single(rule["Targets"]!.AsArray())!;
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse($$"""{"Fn::GetAtt":["{{function}}","Arn"]}"""), target["Arn"]));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse($$"""{"Fn::GetAtt":["{{deadLetters}}","Arn"]}"""), target["DeadLetterConfig"]!["Arn"]));
        var permission = Assert.Single(hub.OfType("AWS::Lambda::Permission"), p => JsonNode.DeepEquals(JsonNode.Parse($$"""{"Fn::GetAtt":["{{ruleId}}","Arn"]}"""), p.Value["SourceArn"])).Value;
        Assert.Equal("events.amazonaws.com", (string)permission["Principal"]!);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse($$"""{"Ref":"{{function}}"}"""), permission["FunctionName"]));
        // Only EventBridge, for this rule (or, for the shared execution queue, the default bus's stop rule), may dead-letter.
        var queuePolicy = Assert.Single(hub.OfType("AWS::SQS::QueuePolicy"), p => JsonNode.DeepEquals(JsonNode.Parse($$"""[{"Ref":"{{deadLetters}}"}]"""), p.Value["Queues"])).Value;
        var senders = queuePolicy["PolicyDocument"]!["Statement"]![0]!["Condition"]!["ArnEquals"]!["aws:SourceArn"]!;
        Assert.Contains(senders is JsonArray list ? list : new JsonArray(senders.DeepClone()), s => JsonNode.DeepEquals(JsonNode.Parse($$"""{"Fn::GetAtt":["{{ruleId}}","Arn"]}"""), s));
    }

    [Fact]
    public void The_functions_get_the_hub_account_the_tenants_and_the_spoke_role_from_Globals()
    {
        var variables = Decode("template.yaml")["Globals"]!["Function"]!["Environment"]!["Variables"]!;
        var expected = new Dictionary<string, string>
        {
            ["BATCHSYNC_ACCOUNT_ID"] = "AWS::AccountId",
            ["BATCHSYNC_TENANT_ACCOUNTS"] = "TenantAccounts",
            ["BATCHSYNC_ORGANIZATION_ID"] = "OrganizationId",
            ["BATCHSYNC_SPOKE_ROLE_NAME"] = "SpokeRoleName",
            ["BATCHSYNC_TENANT_JOB_QUEUES"] = "TenantJobQueues",
            ["BATCHSYNC_TENANT_JOB_DEFINITIONS"] = "TenantJobDefinitions",
            ["BATCHSYNC_TENANT_SERVICE_ROLES"] = "TenantServiceRoles",
            ["BATCHSYNC_CALLBACK_KEYS"] = "CallbackKeys",
        };
        Assert.All(expected, e => Assert.Equal(e.Value, (string)variables[e.Key]!["Ref"]!));
        var parameters = Decode("template.yaml")["Parameters"]!;
        Assert.Equal(("", "", "BatchSyncSpoke", "{TenantAccount}-*", "{TenantAccount}-*", "Off"),
            ((string)parameters["TenantAccounts"]!["Default"]!, (string)parameters["OrganizationId"]!["Default"]!, (string)parameters["SpokeRoleName"]!["Default"]!,
             (string)parameters["TenantJobQueues"]!["Default"]!, (string)parameters["TenantJobDefinitions"]!["Default"]!, (string)parameters["CallbackKeys"]!["Default"]!));
        Assert.Equal("{TenantAccount}-*", (string)parameters["TenantServiceRoles"]!["Default"]!);
        Assert.Matches((string)parameters["OrganizationId"]!["AllowedPattern"]!, "o-abcdefghij");
        Assert.DoesNotMatch((string)parameters["OrganizationId"]!["AllowedPattern"]!, "o-short");
        // The external id the spoke role requires is the hub stack's name, which the functions know as BATCHSYNC_NAMESPACE.
        Assert.Equal("AWS::StackName", (string)variables["BATCHSYNC_NAMESPACE"]!["Ref"]!);
    }

    [Fact]
    public void The_spoke_unreachable_alarm_sums_the_metric_over_every_account_for_this_stacks_functions()
    {
        var alarm = HubWith().Properties("SpokeUnreachableAlarm");
        var query = Assert.Single(alarm["Metrics"]!.AsArray())!;
        Assert.True((bool)query["ReturnData"]!);
        var expression = (string)query["Expression"]!["Fn::Sub"]!;
        Assert.Matches($@"^SELECT SUM\(SpokeUnreachable\) FROM SCHEMA\({Logging.Metrics.Namespace}, Account, {Logging.Metrics.FunctionDimension}\) WHERE ", expression);
        Assert.Equal(Functions.Order(), Regex.Matches(expression, @"Function = '\$\{(\w+)\}'").Select(m => m.Groups[1].Value).Order());
        Assert.Equal(("GreaterThanThreshold", 0, "notBreaching"), ((string)alarm["ComparisonOperator"]!, (int)alarm["Threshold"]!, (string)alarm["TreatMissingData"]!));
        var outputs = HubWith().Outputs;
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"Fn::GetAtt":["SpokeEventBus","Arn"]}"""), outputs["SpokeEventBusArn"]));
        Assert.Equal(Hub, (string)outputs["HubAccountId"]!);
    }

    // ---- helpers

    private static List<string> Actions(JsonObject statement) =>
        statement["Action"] is JsonArray a ? a.Select(x => (string)x!).ToList() : [(string)statement["Action"]!];

    private static readonly Dictionary<string, JsonObject> Cache = new();

    /// <summary>A template of the repository decoded by cfn-lint (as SamTemplate decodes template.yaml).</summary>
    internal static JsonObject Decode(string file) => Python(file, "import json,sys\nfrom cfnlint.decode import decode\nt,m=decode(sys.argv[1])\nassert t is not None, m\nprint(json.dumps(t, default=str))", Path.Combine(SamTemplate.RepoRoot, file));

    /// <summary>template.yaml after the SAM transform with these parameter values (tools/sam_transform.py).</summary>
    private static JsonObject Transform((string Name, string Value)[] values) =>
        Python("transform " + string.Join(' ', values.Select(v => $"{v.Name}={v.Value}")), null, [Path.Combine(SamTemplate.RepoRoot, "tools", "sam_transform.py"), .. values.Select(v => $"{v.Name}={v.Value}")]);

    private static JsonObject Python(string key, string? script, params string[] arguments)
    {
        lock (Cache)
        {
            if (Cache.TryGetValue(key, out var cached))
            {
                return cached;
            }
            var start = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = SamTemplate.RepoRoot };
            if (script is not null)
            {
                start.ArgumentList.Add("-c");
                start.ArgumentList.Add(script);
            }
            foreach (var argument in arguments)
            {
                start.ArgumentList.Add(argument);
            }
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEnd();
            process.WaitForExit();
            Assert.True(process.ExitCode == 0, $"{key}: {error}");
            return Cache[key] = JsonNode.Parse(output.Result)!.AsObject();
        }
    }
}

/// <summary>
/// A template as CloudFormation would deploy it with these parameters in this account and region: resources whose
/// condition holds, their properties and the outputs with Ref (parameters, pseudo parameters), Fn::If, Fn::Sub,
/// Fn::Join, Fn::Split, Fn::Select, Fn::Equals, Fn::Not, Fn::And, Fn::Or and Condition evaluated; a Ref or Fn::GetAtt
/// of a resource stays as it is (its physical id is not known).
/// </summary>
public sealed class Deployment
{
    private readonly JsonObject _template;
    private readonly Dictionary<string, string> _values;

    public Deployment(JsonObject template, Dictionary<string, string> parameters, string account, string region)
    {
        _template = template;
        _values = new Dictionary<string, string>(parameters)
        {
            ["AWS::AccountId"] = account, ["AWS::Region"] = region, ["AWS::Partition"] = "aws", ["AWS::StackName"] = "batchsync",
        };
        foreach (var (name, parameter) in template["Parameters"]?.AsObject() ?? [])
        {
            if (!_values.ContainsKey(name) && parameter!["Default"] is { } d)
            {
                _values[name] = d.GetValueKind() == System.Text.Json.JsonValueKind.String ? (string)d! : d.ToJsonString();
            }
        }
        Resources = template["Resources"]!.AsObject()
            .Where(r => r.Value!["Condition"] is not JsonValue c || Holds((string)c!))
            .ToDictionary(r => r.Key, r => (JsonObject)Evaluate(r.Value)!);
        Outputs = (template["Outputs"]?.AsObject() ?? [])
            .Where(o => o.Value!["Condition"] is not JsonValue c || Holds((string)c!))
            .ToDictionary(o => o.Key, o => Evaluate(o.Value!["Value"]));
    }

    public IReadOnlyDictionary<string, JsonObject> Resources { get; }

    public IReadOnlyDictionary<string, JsonNode?> Outputs { get; }

    public JsonObject Properties(string id) => Resources.TryGetValue(id, out var r) ? r["Properties"]!.AsObject() : throw new Xunit.Sdk.XunitException($"{id} is not deployed");

    public IEnumerable<(string Key, JsonObject Value)> OfType(string type) =>
        Resources.Where(r => (string)r.Value["Type"]! == type).Select(r => (r.Key, r.Value["Properties"]!.AsObject()));

    private bool Holds(string condition) => (bool)Evaluate(_template["Conditions"]![condition])!;

    private JsonNode? Evaluate(JsonNode? node)
    {
        switch (node)
        {
            case JsonArray array:
                return new JsonArray(array.Select(Evaluate).Where(i => !ReferenceEquals(i, NoValue)).ToArray());
            case JsonObject o when o.Count == 1 && (o.First().Key is "Ref" or "Condition" || o.First().Key.StartsWith("Fn::", StringComparison.Ordinal)):
                var (name, argument) = (o.First().Key, o.First().Value);
                switch (name)
                {
                    case "Ref":
                        var id = (string)argument!;
                        if (id == "AWS::NoValue")
                        {
                            return NoValue;
                        }
                        return !_values.TryGetValue(id, out var value) ? o.DeepClone()
                            : (string?)_template["Parameters"]?[id]?["Type"] == "CommaDelimitedList" ? new JsonArray(value.Split(',').Select(v => (JsonNode)JsonValue.Create(v)!).ToArray())
                            : JsonValue.Create(value);
                    case "Condition":
                        return JsonValue.Create(Holds((string)argument!));
                    case "Fn::If":
                        var branches = argument!.AsArray();
                        return Evaluate(Holds((string)branches[0]!) ? branches[1] : branches[2]);
                    case "Fn::Equals":
                        return JsonValue.Create(JsonNode.DeepEquals(Evaluate(argument![0]), Evaluate(argument[1])));
                    case "Fn::Not":
                        return JsonValue.Create(!(bool)Evaluate(argument![0])!);
                    case "Fn::And":
                        return JsonValue.Create(argument!.AsArray().All(c => (bool)Evaluate(c)!));
                    case "Fn::Or":
                        return JsonValue.Create(argument!.AsArray().Any(c => (bool)Evaluate(c)!));
                    case "Fn::Join" when Evaluate(argument![1]) is JsonArray parts && parts.All(p => p is JsonValue):
                        return JsonValue.Create(string.Join((string)argument[0]!, parts.Select(v => (string)v!)));
                    case "Fn::Split" when Evaluate(argument![1]) is JsonValue whole:
                        return new JsonArray(((string)whole!).Split((string)argument[0]!).Select(v => (JsonNode)JsonValue.Create(v)!).ToArray());
                    case "Fn::Select" when Evaluate(argument![1]) is JsonArray list:
                        return list[int.Parse(Evaluate(argument[0])!.ToString())]!.DeepClone();
                    case "Fn::Sub":
                        var (text, variables) = argument is JsonArray sub ? ((string)sub[0]!, sub[1]!.AsObject()) : ((string)argument!, new JsonObject());
                        if (Regex.IsMatch(text, @"\$\{[A-Za-z0-9]+\.[A-Za-z]+\}") || Regex.Matches(text, @"\$\{([^}!]+)\}").Any(m => !variables.ContainsKey(m.Groups[1].Value) && !_values.ContainsKey(m.Groups[1].Value)))
                        {
                            return o.DeepClone(); // names a resource: left as written
                        }
                        return JsonValue.Create(Regex.Replace(text, @"\$\{([^}!]+)\}", m =>
                            variables.ContainsKey(m.Groups[1].Value) ? (string)Evaluate(variables[m.Groups[1].Value])! : _values[m.Groups[1].Value]));
                    default:
                        return o.DeepClone(); // Fn::GetAtt and the like
                }
            case JsonObject o:
                return new JsonObject(o.Select(p => KeyValuePair.Create(p.Key, Evaluate(p.Value))).Where(p => !ReferenceEquals(p.Value, NoValue)));
            default:
                return node?.DeepClone();
        }
    }

    /// <summary>AWS::NoValue: the property or list item is left out (compared by reference, never added to a tree).</summary>
    private static readonly JsonObject NoValue = new();
}
