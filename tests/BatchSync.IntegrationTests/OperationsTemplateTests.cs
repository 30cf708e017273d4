using System.Diagnostics;
using System.Text.Json.Nodes;

namespace BatchSync.IntegrationTests;

/// <summary>
/// template.yaml, as a platform team reads it: alarms on every queue, function and rule, one dashboard, log groups with
/// retention, the table kept, every queue an output, exports, and parameters that scope what SubmitJob may run.
/// </summary>
public class OperationsTemplateTests
{
    private static readonly string[] FunctionNames = ["SubmitJob", "JobStateChange", "Callback", "Reconcile"];

    private static JsonObject Resources => SamTemplate.Json["Resources"]!.AsObject();

    private static IEnumerable<(string Id, JsonObject Properties)> OfType(string type) =>
        Resources.Where(r => (string)r.Value!["Type"]! == type).Select(r => (r.Key, r.Value!["Properties"]!.AsObject()));

    private static bool Same(JsonNode? a, JsonNode? b) => JsonNode.DeepEquals(a, b);

    private static JsonNode Ref(string id) => new JsonObject { ["Ref"] = id };

    private static JsonNode GetAtt(string id, string attribute) => new JsonObject { ["Fn::GetAtt"] = new JsonArray(id, attribute) };

    /// <summary>
    /// The EventBridge rules that invoke a function (or, SnapStart on, its alias), by event name: declared as
    /// AWS::Events::Rule resources named &lt;function logical id&gt;&lt;event name&gt;, as SAM names an event's rule.
    /// </summary>
    private static List<(string EventName, JsonObject Properties)> RulesOf(string functionId) =>
        OfType("AWS::Events::Rule")
            .Where(r => r.Id.StartsWith(functionId, StringComparison.Ordinal)
                && r.Properties["Targets"]!.AsArray().Any(t => t!["Arn"]!.ToJsonString().Contains($"\"{functionId}\"", StringComparison.Ordinal)))
            .Select(r => (r.Id[functionId.Length..], r.Properties))
            .ToList();

    /// <summary>Every queue the stack makes.</summary>
    private static List<string> Queues() => OfType("AWS::SQS::Queue").Select(q => q.Id).ToList();

    /// <summary>The alarms on one metric with these dimensions.</summary>
    private static List<JsonObject> AlarmsOn(string ns, string metric, string dimension, JsonNode value) =>
        OfType("AWS::CloudWatch::Alarm").Select(a => a.Properties)
            .Where(p => (string)p["Namespace"]! == ns && (string)p["MetricName"]! == metric
                && p["Dimensions"]!.AsArray().Count == 1
                && (string)p["Dimensions"]![0]!["Name"]! == dimension && Same(p["Dimensions"]![0]!["Value"], value))
            .ToList();

    private static void AssertFiresOnAnyOccurrence(JsonObject alarm)
    {
        Assert.Equal("GreaterThanThreshold", (string)alarm["ComparisonOperator"]!);
        Assert.Equal(0, (int)alarm["Threshold"]!);
        Assert.Equal(1, (int)alarm["EvaluationPeriods"]!);
        Assert.Equal("notBreaching", (string)alarm["TreatMissingData"]!);
    }

    [Fact]
    public void Every_dead_letter_and_on_failure_queue_has_an_alarm_and_an_exported_output()
    {
        var queues = Queues();
        Assert.Equal(["EventDeliveryDeadLetterQueue", "ExecutionEventDeadLetterQueue", "FailedInvocationQueue", "ReconcileFailedInvocationQueue", "SpokeSubmitDeadLetterQueue", "SubmitJobFailedInvocationQueue"], queues.Order());
        var outputs = SamTemplate.Json["Outputs"]!.AsObject();
        foreach (var queue in queues)
        {
            var alarm = Assert.Single(AlarmsOn("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", GetAtt(queue, "QueueName")));
            AssertFiresOnAnyOccurrence(alarm);
            Assert.Equal("Maximum", (string)alarm["Statistic"]!);
            var output = Assert.Single(outputs, o => Same(o.Value!["Value"], Ref(queue)));
            Assert.Equal(queue + "Url", output.Key);
        }
    }

    [Fact]
    public void Every_queue_keeps_its_messages_14_days_encrypted_and_only_its_rule_may_send_dead_letters()
    {
        foreach (var (id, properties) in OfType("AWS::SQS::Queue"))
        {
            Assert.Equal(1209600, (int)properties["MessageRetentionPeriod"]!); // SQS's maximum, 14 days
            Assert.True((bool)properties["SqsManagedSseEnabled"]!, id);
        }
        var policies = OfType("AWS::SQS::QueuePolicy").ToList();
        foreach (var function in FunctionNames)
        {
            foreach (var (eventName, rule) in RulesOf(function + "Function"))
            {
                if (rule["Targets"]![0]!["DeadLetterConfig"] is not { } deadLetters)
                {
                    continue;
                }
                var queue = (string)deadLetters["Arn"]!["Fn::GetAtt"]![0]!;
                Assert.Contains(queue, Queues());
                var policy = Assert.Single(policies, p => Same(p.Properties["Queues"], new JsonArray(Ref(queue)))).Properties;
                var statement = Assert.Single(policy["PolicyDocument"]!["Statement"]!.AsArray())!;
                Assert.Equal("events.amazonaws.com", (string)statement["Principal"]!["Service"]!);
                Assert.Equal("sqs:SendMessage", (string)statement["Action"]!);
                Assert.True(Same(GetAtt(queue, "Arn"), statement["Resource"]));
                // Only rules (this one, and the spokes' rule with the same target: SpokeTemplateTests) may send.
                var senders = statement["Condition"]!["ArnEquals"]!["aws:SourceArn"]!;
                Assert.Contains(senders is JsonArray list ? list : new JsonArray(senders.DeepClone()), s => Same(GetAtt(function + "Function" + eventName, "Arn"), s));
            }
        }
    }

    [Fact]
    public void Each_asynchronous_function_fails_into_its_own_queue()
    {
        var destinations = new Dictionary<string, string>();
        foreach (var function in FunctionNames)
        {
            // Declared beside the function (not SAM's EventInvokeConfig) so that it follows the SnapStart parameter's qualifier.
            if (Resources[function + "FunctionEventInvokeConfig"]?["Properties"]?["DestinationConfig"]?["OnFailure"] is { } onFailure)
            {
                destinations[function] = (string)onFailure["Destination"]!["Fn::GetAtt"]![0]!;
            }
        }
        Assert.Equal("FailedInvocationQueue", destinations["JobStateChange"]);
        Assert.Equal("ReconcileFailedInvocationQueue", destinations["Reconcile"]);
        Assert.Equal("SubmitJobFailedInvocationQueue", destinations["SubmitJob"]); // relayed (asynchronous) submits
        Assert.Equal(destinations.Count, destinations.Values.Distinct().Count());
    }

    [Fact]
    public void Every_function_has_error_and_throttle_alarms_and_every_rule_a_failed_invocations_alarm()
    {
        foreach (var function in FunctionNames)
        {
            AssertFiresOnAnyOccurrence(Assert.Single(AlarmsOn("AWS/Lambda", "Errors", "FunctionName", Ref(function + "Function"))));
            AssertFiresOnAnyOccurrence(Assert.Single(AlarmsOn("AWS/Lambda", "Throttles", "FunctionName", Ref(function + "Function"))));
            // Each rule is named as SAM names the rule of an event source, <function logical id><event name>.
            foreach (var (eventName, _) in RulesOf(function + "Function"))
            {
                AssertFiresOnAnyOccurrence(Assert.Single(AlarmsOn("AWS/Events", "FailedInvocations", "RuleName", Ref(function + "Function" + eventName))));
            }
        }
        // Rules declared as resources (the sweep schedule) as well; a rule on a custom bus (the spokes') is named by
        // its bus and its name, the two parts of its Ref ("<bus>|<rule>").
        foreach (var (rule, properties) in OfType("AWS::Events::Rule"))
        {
            if (properties["EventBusName"] is null)
            {
                AssertFiresOnAnyOccurrence(Assert.Single(AlarmsOn("AWS/Events", "FailedInvocations", "RuleName", Ref(rule))));
                continue;
            }
            static JsonNode Part(int index, string rule) => JsonNode.Parse($$"""{"Fn::Select":[{{index}},{"Fn::Split":["|",{"Ref":"{{rule}}"}]}]}""")!;
            var alarm = Assert.Single(OfType("AWS::CloudWatch::Alarm").Select(a => a.Properties), p => (string?)p["MetricName"] == "FailedInvocations"
                && Same(p["Dimensions"], JsonNode.Parse($$"""[{"Name":"EventBusName","Value":{{Part(0, rule).ToJsonString()}}},{"Name":"RuleName","Value":{{Part(1, rule).ToJsonString()}}}]""")));
            Assert.Equal("AWS/Events", (string)alarm["Namespace"]!);
            AssertFiresOnAnyOccurrence(alarm);
        }
    }

    [Theory]
    [InlineData("1")]
    [InlineData("2")]
    [InlineData("4")]
    public void Each_sweep_tick_invokes_Reconcile_once_per_part_and_the_parts_cover_every_due_shard_once(string invocations)
    {
        Assert.Contains(invocations, SamTemplate.Json["Parameters"]!["SweepInvocations"]!["AllowedValues"]!.AsArray().Select(v => v!.ToString()));
        var parameters = new Dictionary<string, JsonNode> { ["SweepInvocations"] = JsonValue.Create(invocations)! };
        var rule = Resources["ReconcileFunctionSweep"]!["Properties"]!;
        Assert.True(Same(JsonValue.Create("rate(5 minutes)"), Intrinsics.Evaluate(rule["ScheduleExpression"], parameters)));
        var targets = rule["Targets"]!.AsArray().Select(t => Intrinsics.Evaluate(t, parameters)).OfType<JsonObject>().ToList();
        Assert.Equal(int.Parse(invocations), targets.Count);
        var shards = new List<string>();
        foreach (var target in targets)
        {
            Assert.True(Same(GetAtt("ReconcileFunction", "Arn"), Intrinsics.Evaluate(target["Arn"], parameters))); // SnapStart off (the default)
            // The input is what Reconcile reads: parsed by its own parser, each part's shards counted once.
            using var input = System.Text.Json.JsonDocument.Parse((string)Intrinsics.Evaluate(target["Input"], parameters)!);
            var part = Domain.SweepRequest.Parse(input.RootElement.GetProperty(Domain.SweepRequest.Member));
            Assert.Equal(targets.Count, part.Parts);
            shards.AddRange(part.Shards);
        }
        Assert.Equal(Enumerable.Range(0, 16).Select(i => $"OPEN#{i:D2}").Order(), shards.Order());
        var permission = Assert.Single(OfType("AWS::Lambda::Permission"), p => Same(GetAtt("ReconcileFunctionSweep", "Arn"), p.Properties["SourceArn"])).Properties;
        Assert.Equal("events.amazonaws.com", (string)permission["Principal"]!);
        Assert.True(Same(Ref("ReconcileFunction"), Intrinsics.Evaluate(permission["FunctionName"], parameters)));
    }

    [Fact]
    public void The_oldest_open_task_alarm_reads_the_metric_the_sweep_writes()
    {
        var alarm = Assert.Single(AlarmsOn(Logging.Metrics.Namespace, "OldestOpenTaskSeconds", Logging.Metrics.FunctionDimension, Ref("ReconcileFunction")));
        Assert.True(Same(Ref("OldestOpenTaskAlarmSeconds"), alarm["Threshold"]));
        Assert.Equal("Maximum", (string)alarm["Statistic"]!);
        Assert.Equal("GreaterThanThreshold", (string)alarm["ComparisonOperator"]!);
        Assert.Equal("Number", (string)SamTemplate.Json["Parameters"]!["OldestOpenTaskAlarmSeconds"]!["Type"]!);
    }

    [Fact]
    public void Alarms_notify_the_alarm_topic_only_when_one_is_given()
    {
        var alarms = OfType("AWS::CloudWatch::Alarm").ToList();
        // Queues, functions' errors and throttles, rules (the service job rule's only when service jobs are on), the
        // oldest open task, unreachable spokes.
        Assert.Equal(6 + 2 * 4 + 6 + 1 + 1, alarms.Count);
        var expected = JsonNode.Parse("""{"Fn::If":["HasAlarmTopic",[{"Ref":"AlarmTopicArn"}],{"Ref":"AWS::NoValue"}]}""");
        Assert.All(alarms, a => Assert.True(Same(expected, a.Properties["AlarmActions"]), a.Id));
        Assert.True(Same(JsonNode.Parse("""{"Fn::Not":[{"Fn::Equals":[{"Ref":"AlarmTopicArn"},""]}]}"""), SamTemplate.Json["Conditions"]!["HasAlarmTopic"]));
        Assert.Equal("", (string)SamTemplate.Json["Parameters"]!["AlarmTopicArn"]!["Default"]!);
    }

    [Fact]
    public void The_dashboard_shows_every_metric_BatchSync_writes_and_every_queue()
    {
        var dashboard = Assert.Single(OfType("AWS::CloudWatch::Dashboard")).Properties;
        var body = (string)dashboard["DashboardBody"]!["Fn::Sub"]!;
        // Sub's ${...} stand where CloudFormation puts names; the rest must already be the dashboard's JSON.
        var widgets = JsonNode.Parse(System.Text.RegularExpressions.Regex.Replace(body, @"\$\{[^}]+\}", "x"))!["widgets"]!.AsArray();
        Assert.NotEmpty(widgets);
        string[] metrics = ["Jobs", "QueueSeconds", "RunSeconds", "OpenTasks", "OldestOpenTaskSeconds", "LostOutcomesDelivered", "OrphansFound", "JobsTerminated"];
        Assert.All(metrics, m => Assert.Contains($"\"{m}\"", body.Replace("\\\"", "\"")));
        Assert.All(Queues(), q => Assert.Contains("${" + q + ".QueueName}", body));
        Assert.All(FunctionNames, f => Assert.Contains("${" + f + "Function}", body));
    }

    [Fact]
    public void Every_function_logs_to_its_own_log_group_kept_LogRetentionDays()
    {
        var groups = new HashSet<string>();
        foreach (var function in FunctionNames)
        {
            var logging = SamTemplate.Resource(function + "Function")["Properties"]!["LoggingConfig"]!;
            Assert.Equal("JSON", (string)logging["LogFormat"]!);
            var group = (string)logging["LogGroup"]!["Ref"]!;
            Assert.Equal(function + "LogGroup", group);
            Assert.True(groups.Add(group));
            var resource = SamTemplate.Resource(group);
            Assert.Equal("AWS::Logs::LogGroup", (string)resource["Type"]!);
            Assert.True(Same(Ref("LogRetentionDays"), resource["Properties"]!["RetentionInDays"]));
        }
        Assert.Equal(groups.Order(), OfType("AWS::Logs::LogGroup").Select(g => g.Id).Order());
        var retention = SamTemplate.Json["Parameters"]!["LogRetentionDays"]!;
        Assert.Contains(retention["Default"]!.GetValue<int>(), retention["AllowedValues"]!.AsArray().Select(v => v!.GetValue<int>()));
    }

    [Fact]
    public void Parameter_choices_are_exactly_those_the_resources_accept()
    {
        // The resource schemas cfn-lint bundles (from the CloudFormation registry), read independently of the template.
        var schemas = JsonNode.Parse(Python("""
            import json
            from cfnlint.schema.manager import PROVIDER_SCHEMA_MANAGER as m
            logs = m.get_resource_schema('us-east-1', 'AWS::Logs::LogGroup').schema
            fn = m.get_resource_schema('us-east-1', 'AWS::Lambda::Function').schema
            print(json.dumps({
                'retention': logs['properties']['RetentionInDays']['enum'],
                'architectures': fn['properties']['Architectures']['items']['enum'],
                'tracing': fn['definitions']['TracingConfig']['properties']['Mode']['enum'],
            }))
            """))!;
        var parameters = SamTemplate.Json["Parameters"]!;
        Assert.Equal(schemas["retention"]!.AsArray().Select(v => v!.GetValue<int>()), parameters["LogRetentionDays"]!["AllowedValues"]!.AsArray().Select(v => v!.GetValue<int>()));
        Assert.Equal(schemas["architectures"]!.AsArray().Select(v => (string)v!).Order(), parameters["Architecture"]!["AllowedValues"]!.AsArray().Select(v => (string)v!).Order());
        Assert.Equal(schemas["tracing"]!.AsArray().Select(v => (string)v!).Order(), parameters["Tracing"]!["AllowedValues"]!.AsArray().Select(v => (string)v!).Order());
    }

    private static string Python(string script)
    {
        var lines = script.Split('\n');
        var start = new ProcessStartInfo("python3", ["-c", string.Join('\n', lines.Select(l => l.Trim()))])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, error);
        return output;
    }

    [Fact]
    public void The_table_is_kept_when_the_stack_is_deleted_or_the_table_replaced()
    {
        var table = SamTemplate.Resource("JobTable");
        Assert.Equal("Retain", (string)table["DeletionPolicy"]!);
        Assert.Equal("Retain", (string)table["UpdateReplacePolicy"]!);
    }

    [Fact]
    public void Tracing_architecture_and_permissions_boundary_come_from_parameters()
    {
        var globals = SamTemplate.Json["Globals"]!["Function"]!;
        var parameters = SamTemplate.Json["Parameters"]!;
        Assert.True(Same(new JsonArray(Ref("Architecture")), globals["Architectures"]));
        Assert.Equal(["arm64", "x86_64"], parameters["Architecture"]!["AllowedValues"]!.AsArray().Select(v => (string)v!).Order());
        Assert.Equal("x86_64", (string)parameters["Architecture"]!["Default"]!);
        Assert.True(Same(Ref("Tracing"), globals["Tracing"]));
        Assert.Equal(["Active", "PassThrough"], parameters["Tracing"]!["AllowedValues"]!.AsArray().Select(v => (string)v!).Order());
        Assert.True(Same(JsonNode.Parse("""{"Fn::If":["HasPermissionsBoundary",{"Ref":"PermissionsBoundaryArn"},{"Ref":"AWS::NoValue"}]}"""), globals["PermissionsBoundary"]));
        Assert.Equal("", (string)parameters["PermissionsBoundaryArn"]!["Default"]!);
    }

    [Theory]
    [InlineData("x86_64", "linux-x64")]
    [InlineData("arm64", "linux-arm64")]
    public void The_build_publishes_ReadyToRun_code_for_the_chosen_architecture(string architecture, string runtime)
    {
        foreach (var function in FunctionNames)
        {
            var commands = Make($"build-{function}Function", architecture);
            Assert.Contains($"-r {runtime} ", commands);
            Assert.Contains("-p:PublishReadyToRun=true", commands);
            Assert.Contains($"functions/{function}/{function}.csproj", commands);
        }
        Assert.Throws<InvalidOperationException>(() => Make("build-SubmitJobFunction", "sparc"));
    }

    /// <summary>What <c>make</c> would run (-n), with ARCHITECTURE in the environment as SAM hands it over.</summary>
    private static string Make(string target, string architecture)
    {
        var start = new ProcessStartInfo("make", ["-n", "--no-print-directory", target, "ARTIFACTS_DIR=/tmp/batchsync-make-n"])
        {
            WorkingDirectory = SamTemplate.RepoRoot,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["ARCHITECTURE"] = architecture;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return process.ExitCode == 0 ? output : throw new InvalidOperationException(error);
    }

    [Fact]
    public void The_stop_rule_watches_only_state_machines_under_the_prefix()
    {
        var pattern = SamTemplate.Resource("ReconcileFunctionExecutionStopped")["Properties"]!["EventPattern"]!;
        Assert.True(Same(JsonNode.Parse("""[{"prefix":{"Ref":"StateMachineArnPrefix"}}]"""), pattern["detail"]!["stateMachineArn"]));
        // The default watches every state machine (every ARN starts with "arn:"), as before the parameter existed.
        Assert.Equal("arn:", (string)SamTemplate.Json["Parameters"]!["StateMachineArnPrefix"]!["Default"]!);
    }

    [Fact]
    public void Every_output_is_exported_under_the_stack_name()
    {
        foreach (var output in SamTemplate.Json["Outputs"]!.AsObject())
        {
            Assert.Equal("${AWS::StackName}-" + output.Key, (string)output.Value!["Export"]!["Name"]!["Fn::Sub"]!);
        }
    }

    public static TheoryData<string, string, string[]> AllowedParameters() => new()
    {
        // Empty (the default): every queue and job definition of the account and region, as before the parameters.
        { "", "", ["arn:aws:batch:us-east-1:123456789012:job-queue/*", "arn:aws:batch:us-east-1:123456789012:job-definition/*"] },
        {
            "arn:aws:batch:us-east-1:123456789012:job-queue/team-a-*,arn:aws:batch:us-east-1:123456789012:job-queue/shared",
            "arn:aws:batch:us-east-1:123456789012:job-definition/etl:*",
            ["arn:aws:batch:us-east-1:123456789012:job-queue/team-a-*", "arn:aws:batch:us-east-1:123456789012:job-queue/shared", "arn:aws:batch:us-east-1:123456789012:job-definition/etl:*"]
        },
        { "", "arn:aws:batch:us-east-1:123456789012:job-definition/etl:3", ["arn:aws:batch:us-east-1:123456789012:job-queue/*", "arn:aws:batch:us-east-1:123456789012:job-definition/etl:3"] },
    };

    [Theory]
    [MemberData(nameof(AllowedParameters))]
    public void SubmitJob_may_submit_only_to_the_allowed_queues_and_job_definitions(string queues, string definitions, string[] expected)
    {
        var parameters = new Dictionary<string, JsonNode>
        {
            ["AllowedJobQueues"] = new JsonArray(queues.Split(',').Select(v => (JsonNode)JsonValue.Create(v)!).ToArray()),
            ["AllowedJobDefinitions"] = new JsonArray(definitions.Split(',').Select(v => (JsonNode)JsonValue.Create(v)!).ToArray()),
        };
        var submit = SamTemplate.Resource("SubmitJobFunction")["Properties"]!["Policies"]!.AsArray()
            .SelectMany(p => p!["Statement"]!.AsArray()).Select(s => s!.AsObject())
            .Single(s => s["Action"] is JsonArray actions && actions.Any(a => (string)a! == "batch:SubmitJob")); // not the conditional (service-job) statements
        var resources = Intrinsics.Evaluate(submit["Resource"], parameters)!.AsArray().Select(r => (string)r!).ToList();
        Assert.Equal(expected.Concat(["arn:aws:batch:us-east-1:123456789012:job/*", "arn:aws:batch:us-east-1:123456789012:consumable-resource/*"]), resources);

        // The same lists reach the function, which checks them before submitting.
        var environment = SamTemplate.Resource("SubmitJobFunction")["Properties"]!["Environment"]!["Variables"]!;
        Assert.Equal(queues, (string)Intrinsics.Evaluate(environment["BATCHSYNC_ALLOWED_JOB_QUEUES"], parameters)!);
        Assert.Equal(definitions, (string)Intrinsics.Evaluate(environment["BATCHSYNC_ALLOWED_JOB_DEFINITIONS"], parameters)!);
    }
}

/// <summary>
/// The few CloudFormation intrinsic functions the policies use, evaluated as CloudFormation does (Ref, Fn::Sub,
/// Fn::Join, Fn::Split, Fn::If, Fn::Equals, Fn::Not) for us-east-1, account 123456789012, partition aws.
/// </summary>
public static class Intrinsics
{
    private static readonly Dictionary<string, string> Pseudo = new()
    {
        ["AWS::Partition"] = "aws",
        ["AWS::Region"] = "us-east-1",
        ["AWS::AccountId"] = "123456789012",
        ["AWS::StackName"] = "batchsync",
    };

    public static JsonNode? Evaluate(JsonNode? node, IReadOnlyDictionary<string, JsonNode> parameters)
    {
        if (node is JsonArray array)
        {
            return new JsonArray(array.Select(i => Evaluate(i, parameters)).ToArray());
        }
        if (node is not JsonObject o || o.Count != 1)
        {
            return node?.DeepClone();
        }
        var (name, argument) = (o.First().Key, o.First().Value);
        switch (name)
        {
            case "Ref":
                var id = (string)argument!;
                if (id == "AWS::NoValue")
                {
                    return null;
                }
                if (SamTemplate.Json["Resources"]![id] is not null)
                {
                    return new JsonObject { ["Ref"] = id }; // a resource: its physical id, left as the reference
                }
                return Pseudo.TryGetValue(id, out var pseudo) ? JsonValue.Create(pseudo)
                    : parameters.TryGetValue(id, out var value) ? value.DeepClone()
                    : SamTemplate.Json["Parameters"]![id]!["Default"] is { } fallback
                        ? JsonValue.Create(fallback.GetValueKind() == System.Text.Json.JsonValueKind.String ? (string)fallback! : fallback.ToJsonString())
                        : null;
            case "Fn::Sub":
                var (text, variables) = argument is JsonArray sub ? ((string)sub[0]!, sub[1]!.AsObject()) : ((string)argument!, new JsonObject());
                return JsonValue.Create(System.Text.RegularExpressions.Regex.Replace(text, @"\$\{([^}]+)\}", m =>
                    variables.ContainsKey(m.Groups[1].Value) ? (string)Evaluate(variables[m.Groups[1].Value], parameters)!
                    : (string)Evaluate(new JsonObject { ["Ref"] = m.Groups[1].Value }, parameters)!));
            case "Fn::Join":
                var join = argument!.AsArray();
                return JsonValue.Create(string.Join((string)join[0]!, Evaluate(join[1], parameters)!.AsArray().Select(v => (string)v!)));
            case "Fn::Split":
                var split = argument!.AsArray();
                return new JsonArray(((string)Evaluate(split[1], parameters)!).Split((string)split[0]!).Select(v => (JsonNode)JsonValue.Create(v)!).ToArray());
            case "Fn::If":
                var branches = argument!.AsArray();
                var condition = (bool)Evaluate(SamTemplate.Json["Conditions"]![(string)branches[0]!], parameters)!;
                return Evaluate(condition ? branches[1] : branches[2], parameters);
            case "Fn::Equals":
                var pair = argument!.AsArray();
                return JsonValue.Create(JsonNode.DeepEquals(Evaluate(pair[0], parameters), Evaluate(pair[1], parameters)));
            case "Fn::Not":
                return JsonValue.Create(!(bool)Evaluate(argument![0], parameters)!);
            default:
                return new JsonObject { [name] = Evaluate(argument, parameters) };
        }
    }
}
