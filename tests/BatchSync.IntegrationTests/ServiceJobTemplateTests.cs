using System.Diagnostics;
using System.Text.Json.Nodes;
using BatchSync.IntegrationTests.Moto;

namespace BatchSync.IntegrationTests;

/// <summary>
/// Service jobs in template.yaml (issue 21): the AllowedServiceRoles parameter, the ServiceJobsOn condition, the
/// functions' service-job permissions and iam:PassRole, the rule for "Batch Service Job State Change" events, and the
/// two state-machine examples. The template is read after the SAM transform (tools/sam_transform.py) and evaluated as
/// CloudFormation would deploy it (<see cref="Deployment"/>); the rule's pattern is tried on moto's EventBridge
/// (TestEventPattern) against the User Guide's sample event.
/// </summary>
[Collection(MotoCollection.Name)]
public class ServiceJobTemplateTests(MotoFixture moto)
{
    private const string Account = "123456789012";
    private const string ServiceJobs = "arn:aws:batch:us-east-1:123456789012:service-job/*";
    private const string Roles = "arn:aws:iam::123456789012:role/sagemaker-*,arn:aws:iam::123456789012:role/training";
    private static readonly string[] Functions = ["SubmitJobFunction", "JobStateChangeFunction", "CallbackFunction", "ReconcileFunction"];
    private static readonly string[] ServiceJobResources = ["ServiceJobStateChangeRule", "ServiceJobStateChangeRulePermission", "ServiceJobStateChangeRuleAlarm"];

    // ---- off (the default)

    [Fact]
    public void With_no_AllowedServiceRoles_there_is_no_service_job_rule_no_PassRole_and_no_service_job_action_anywhere()
    {
        var parameter = SamTemplate.Json["Parameters"]!["AllowedServiceRoles"]!;
        Assert.Equal("CommaDelimitedList", (string)parameter["Type"]!);
        Assert.Equal("", (string)parameter["Default"]!);
        Assert.False(string.IsNullOrWhiteSpace((string?)parameter["Description"]));

        foreach (var hub in new[] { HubWith(), HubWith(("SnapStart", "PublishedVersions")), HubWith(("TenantAccounts", "111111111111,222222222222")) })
        {
            Assert.DoesNotContain(hub.Resources.Keys, ServiceJobResources.Contains);
            var deployed = string.Join("\n", hub.Resources.Values.Select(r => r.ToJsonString()));
            Assert.DoesNotContain("iam:PassRole", deployed);
            Assert.DoesNotContain("ServiceJob", deployed.Replace("ServiceJobsOn", ""));
            Assert.DoesNotContain("service-job", deployed);
            Assert.Equal("", (string)hub.Properties("SubmitJobFunction")["Environment"]!["Variables"]!["BATCHSYNC_ALLOWED_SERVICE_ROLES"]!);
        }
        // Only the roles of the stack's functions could carry it: spoke.yaml grants no PassRole either.
        Assert.DoesNotContain("iam:PassRole", SamTemplate.Spoke.ToJsonString());
    }

    [Fact]
    public void Every_conditional_statement_is_a_service_job_one_and_absent_when_service_jobs_are_off()
    {
        Assert.True(JsonNode.DeepEquals(
            JsonNode.Parse("""{"Fn::Not":[{"Fn::Equals":[{"Fn::Join":["",{"Ref":"AllowedServiceRoles"}]},""]}]}"""),
            SamTemplate.Json["Conditions"]!["ServiceJobsOn"]));
        var conditional = 0;
        foreach (var function in Functions)
        {
            foreach (var statement in SamTemplate.Resource(function)["Properties"]!["Policies"]!.AsArray().SelectMany(p => p!["Statement"]!.AsArray()))
            {
                if (statement!["Fn::If"] is not JsonArray branches)
                {
                    Assert.DoesNotContain(Actions(statement.AsObject()), a => a.Contains("ServiceJob") || a == "iam:PassRole");
                    continue;
                }
                conditional++;
                Assert.Equal("ServiceJobsOn", (string)branches[0]!);
                Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"Ref":"AWS::NoValue"}"""), branches[2]));
                Assert.All(Actions(branches[1]!.AsObject()), a => Assert.True(a.Contains("ServiceJob") || a is "iam:PassRole" or "batch:TagResource", a));
            }
        }
        Assert.Equal(5 + 2 + 1 + 2, conditional);
        Assert.All(ServiceJobResources, id => Assert.Equal("ServiceJobsOn", (string)SamTemplate.Resource(id)["Condition"]!));
    }

    // ---- on

    [Fact]
    public void PassRole_is_granted_to_SubmitJob_alone_on_exactly_the_listed_roles_and_only_to_SageMaker()
    {
        var hub = HubWith(("AllowedServiceRoles", Roles));
        var passRole = RoleStatements(hub).Where(s => Actions(s.Statement).Contains("iam:PassRole")).ToList();
        var (role, statement) = Assert.Single(passRole);
        Assert.Equal("SubmitJobFunctionRole", role);
        Assert.Equal(["iam:PassRole"], Actions(statement));
        Assert.Equal("Allow", (string)statement["Effect"]!);
        Assert.Equal(Roles.Split(','), statement["Resource"]!.AsArray().Select(r => (string)r!));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"StringEquals":{"iam:PassedToService":"sagemaker.amazonaws.com"}}"""), statement["Condition"]));
        // No other statement of any role (nor a managed or separate policy) names an iam: action, nor any a wildcard.
        Assert.Single(RoleStatements(hub), s => Actions(s.Statement).Any(a => a.StartsWith("iam:")));
        Assert.DoesNotContain(RoleStatements(hub), s => Actions(s.Statement).Any(a => a.Contains('*')));
        // The function checks the same list (by name, before submitting).
        Assert.Equal(Roles, (string)hub.Properties("SubmitJobFunction")["Environment"]!["Variables"]!["BATCHSYNC_ALLOWED_SERVICE_ROLES"]!);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"Fn::Join":[",",{"Ref":"AllowedServiceRoles"}]}"""),
            SamTemplate.Resource("SubmitJobFunction")["Properties"]!["Environment"]!["Variables"]!["BATCHSYNC_ALLOWED_SERVICE_ROLES"]));
    }

    public static TheoryData<string, string[]> AllowedQueues() => new()
    {
        // Empty AllowedJobQueues: every queue of the account and region, as for SubmitJob.
        { "", ["arn:aws:batch:us-east-1:123456789012:job-queue/*"] },
        {
            "arn:aws:batch:us-east-1:123456789012:job-queue/training-*,arn:aws:batch:us-east-1:123456789012:job-queue/shared",
            ["arn:aws:batch:us-east-1:123456789012:job-queue/training-*", "arn:aws:batch:us-east-1:123456789012:job-queue/shared"]
        },
    };

    [Theory]
    [MemberData(nameof(AllowedQueues))]
    public void SubmitServiceJob_is_allowed_on_the_queues_SubmitJob_may_use_and_on_service_jobs_and_tags_only_service_jobs(string queues, string[] expected)
    {
        var hub = HubWith(("AllowedServiceRoles", Roles), ("AllowedJobQueues", queues));
        var statements = RoleStatements(hub).ToList();
        var (role, submit) = Assert.Single(statements, s => Actions(s.Statement).Contains("batch:SubmitServiceJob"));
        Assert.Equal("SubmitJobFunctionRole", role);
        Assert.Equal(["batch:SubmitServiceJob"], Actions(submit));
        Assert.Equal(expected.Append(ServiceJobs), Resources(submit));
        // The same queues as SubmitJob's own statement.
        var container = Assert.Single(statements, s => Actions(s.Statement).Contains("batch:SubmitJob")).Statement;
        Assert.Equal(expected, Resources(container).Where(r => r.Contains(":job-queue/")));

        // TagResource for a SubmitServiceJob with tags: on service jobs, in a statement of its own.
        var tagging = statements.Where(s => Actions(s.Statement).Contains("batch:TagResource") && !Actions(s.Statement).Contains("batch:SubmitJob")).ToList();
        var (tagRole, tag) = Assert.Single(tagging);
        Assert.Equal("SubmitJobFunctionRole", tagRole);
        Assert.Equal(["batch:TagResource"], Actions(tag));
        Assert.Equal([ServiceJobs], Resources(tag));
    }

    [Fact]
    public void TerminateServiceJob_DescribeServiceJob_and_ListServiceJobs_wherever_their_container_job_counterparts_are()
    {
        var hub = HubWith(("AllowedServiceRoles", Roles));
        var pairs = new (string Container, string Service, string Resource)[]
        {
            ("batch:TerminateJob", "batch:TerminateServiceJob", ServiceJobs),
            // No resource types (DEVELOPERS.md, "Service jobs: what is known", fact 9): Resource must be *.
            ("batch:DescribeJobs", "batch:DescribeServiceJob", "*"),
            ("batch:ListJobs", "batch:ListServiceJobs", "*"),
        };
        // Where the container action's use has no service-job counterpart, none is granted: JobStateChange's ListJobs
        // lists an array parent's children, Callback's DescribeJobs finds a record by a container job's marker parameter.
        var without = new HashSet<(string, string)> { ("JobStateChangeFunction", "batch:ListServiceJobs"), ("CallbackFunction", "batch:DescribeServiceJob") };
        foreach (var function in Functions)
        {
            var statements = RoleStatements(hub).Where(s => s.Role == function + "Role").Select(s => s.Statement).ToList();
            Assert.NotEmpty(statements);
            foreach (var (container, service, resource) in pairs)
            {
                var granted = statements.Where(s => Actions(s).Contains(service)).ToList();
                Assert.Equal(statements.Any(s => Actions(s).Contains(container)) && !without.Contains((function, service)) ? 1 : 0, granted.Count);
                Assert.All(granted, s => Assert.Equal([resource], Resources(s)));
            }
        }
        // Every function has TerminateJob, so every function may terminate a service job.
        Assert.All(Functions, f => Assert.Contains(RoleStatements(hub), s => s.Role == f + "Role" && Actions(s.Statement).Contains("batch:TerminateServiceJob")));
    }

    [Theory]
    [InlineData("None")]
    [InlineData("PublishedVersions")]
    public void The_service_job_rule_invokes_JobStateChange_as_the_job_rule_does_and_may_dead_letter_and_alarm(string snapStart)
    {
        var hub = HubWith(("AllowedServiceRoles", Roles), ("SnapStart", snapStart));
        var invoked = snapStart == "None" ? JsonNode.Parse("""{"Fn::GetAtt":["JobStateChangeFunction","Arn"]}""") : JsonNode.Parse("""{"Ref":"JobStateChangeFunctionAliaslive"}""");
        var jobTarget = Assert.Single(hub.Properties("JobStateChangeFunctionBatchJobStateChange")["Targets"]!.AsArray())!;
        var target = Assert.Single(hub.Properties("ServiceJobStateChangeRule")["Targets"]!.AsArray())!;
        Assert.True(JsonNode.DeepEquals(invoked, target["Arn"]), target["Arn"]!.ToJsonString());
        Assert.True(JsonNode.DeepEquals(jobTarget["Arn"], target["Arn"]));
        Assert.True(JsonNode.DeepEquals(jobTarget["RetryPolicy"], target["RetryPolicy"]));
        Assert.True(JsonNode.DeepEquals(jobTarget["DeadLetterConfig"], target["DeadLetterConfig"]));
        Assert.Null(hub.Properties("ServiceJobStateChangeRule")["EventBusName"]); // the default bus, where Batch sends

        var permission = hub.Properties("ServiceJobStateChangeRulePermission");
        Assert.Equal("lambda:InvokeFunction", (string)permission["Action"]!);
        Assert.Equal("events.amazonaws.com", (string)permission["Principal"]!);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"Fn::GetAtt":["ServiceJobStateChangeRule","Arn"]}"""), permission["SourceArn"]));
        Assert.True(JsonNode.DeepEquals(hub.Properties("JobStateChangeFunctionBatchJobStateChangePermission")["FunctionName"], permission["FunctionName"]));

        // The dead-letter queue takes this rule's undeliverable events too (and only from the two rules).
        var senders = hub.Properties("JobStateChangeFunctionBatchJobStateChangeQueuePolicy")["PolicyDocument"]!["Statement"]![0]!["Condition"]!["ArnEquals"]!["aws:SourceArn"]!;
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""[{"Fn::GetAtt":["JobStateChangeFunctionBatchJobStateChange","Arn"]},{"Fn::GetAtt":["ServiceJobStateChangeRule","Arn"]}]"""), senders));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""[{"Fn::GetAtt":["JobStateChangeFunctionBatchJobStateChange","Arn"]}]"""),
            HubWith(("SnapStart", snapStart)).Properties("JobStateChangeFunctionBatchJobStateChangeQueuePolicy")["PolicyDocument"]!["Statement"]![0]!["Condition"]!["ArnEquals"]!["aws:SourceArn"]));

        var alarm = hub.Properties("ServiceJobStateChangeRuleAlarm");
        Assert.Equal("AWS/Events", (string)alarm["Namespace"]!);
        Assert.Equal("FailedInvocations", (string)alarm["MetricName"]!);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""[{"Name":"RuleName","Value":{"Ref":"ServiceJobStateChangeRule"}}]"""), alarm["Dimensions"]));
    }

    [Fact]
    public async Task The_service_job_rule_matches_the_User_Guides_event_when_running_or_final_and_nothing_else()
    {
        var pattern = HubWith(("AllowedServiceRoles", Roles)).Properties("ServiceJobStateChangeRule")["EventPattern"]!.AsObject();
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""
            {"source": ["aws.batch"], "detail-type": ["Batch Service Job State Change"], "detail": {"status": ["RUNNING", "SUCCEEDED", "FAILED"]}}
            """), pattern));
        var world = new AwsWorld(moto.Server, "me-south-1");
        // Each case is the sample with its status (and detail-type or source) changed, named by its jobName; moto's
        // EventBridge (PutEvents, a rule with the pattern, an SQS target) says which ones the rule delivers.
        JsonObject Sample(string name, string status, string detailType = "Batch Service Job State Change", string source = "aws.batch")
        {
            var sample = JsonNode.Parse(File.ReadAllText(Path.Combine(SamTemplate.RepoRoot, "tests", "BatchSync.Tests", "Fixtures", "service-jobs", "event-userguide.json")))!.AsObject();
            Assert.Equal("SUCCEEDED", (string)sample["detail"]!["status"]!); // the sample as published
            sample["detail"]!["status"] = status;
            sample["detail"]!["jobName"] = name;
            sample["detail-type"] = detailType;
            sample["source"] = source;
            return sample;
        }
        var cases = new List<JsonObject>
        {
            Sample("as-published", "SUCCEEDED"), Sample("failed", "FAILED"), Sample("running", "RUNNING"),
            Sample("as-a-job-event", "SUCCEEDED", "Batch Job State Change"), Sample("other-source", "SUCCEEDED", source: "batchsync.spoke"),
        };
        cases.AddRange(new[] { "SUBMITTED", "PENDING", "RUNNABLE", "SCHEDULED", "STARTING" }.Select(s => Sample(s.ToLowerInvariant(), s)));
        static List<string> Names(IEnumerable<JsonObject> delivered) => delivered.Select(e => (string)e["detail"]!["jobName"]!).Order().ToList();

        var service = await (await world.CreateRouteAsync(pattern)).DeliverAsync(cases);
        Assert.Equal(["as-published", "failed", "running"], Names(service));
        Assert.All(service, e => Assert.Equal("Batch Service Job State Change", (string)e["detail-type"]!));
        // Nor does the container jobs' rule take a service job's event (it has no BatchSyncTask parameter): each
        // event reaches at most one rule.
        Assert.Empty(await (await world.CreateRouteAsync(SamTemplate.RulePattern("batchsync"))).DeliverAsync(cases));
    }

    // ---- the examples

    private static JsonObject Example(string file) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(SamTemplate.RepoRoot, "examples", file)))!.AsObject();

    /// <summary>The members BatchSync's SubmitJob takes besides the request's: the task's token, execution, state and timeout.</summary>
    private static readonly string[] BatchSyncMembers = ["TaskToken", "ExecutionArn", "StateName", "TimeoutSeconds"];

    /// <summary>SubmitServiceJob's request members (the official model), in PascalCase as the payload takes them.</summary>
    private static (HashSet<string> Members, HashSet<string> Required) SubmitServiceJobMembers()
    {
        var model = JsonNode.Parse(File.ReadAllText(Path.Combine(SamTemplate.RepoRoot, "tests", "BatchSync.Tests", "Fixtures", "aws-models", "batch-2016-08-10.service-2.json")))!;
        var request = model["shapes"]!["SubmitServiceJobRequest"]!;
        static string Pascal(string name) => char.ToUpperInvariant(name[0]) + name[1..];
        return (request["members"]!.AsObject().Select(m => Pascal(m.Key)).ToHashSet(), request["required"]!.AsArray().Select(r => Pascal((string)r!)).ToHashSet());
    }

    /// <summary>The minimal ASL structure: StartAt names a state, every state ends or goes to a state that exists.</summary>
    private static JsonObject AssertOneTaskMachine(JsonObject machine)
    {
        var states = machine["States"]!.AsObject();
        Assert.True(states.ContainsKey((string)machine["StartAt"]!));
        foreach (var (name, state) in states)
        {
            Assert.True((bool?)state!["End"] == true || states.ContainsKey((string?)state["Next"] ?? ""), name);
        }
        var task = Assert.Single(states).Value!.AsObject();
        Assert.Equal("Task", (string)task["Type"]!);
        Assert.Equal("arn:aws:states:::lambda:invoke.waitForTaskToken", (string)task["Resource"]!);
        return task;
    }

    [Fact]
    public void The_JSONPath_example_submits_a_training_job_with_the_container_examples_task_settings()
    {
        var task = AssertOneTaskMachine(Example("service-job-state-machine.asl.json"));
        var container = AssertOneTaskMachine(Example("state-machine.asl.json"));
        Assert.Null(Example("service-job-state-machine.asl.json")["QueryLanguage"]); // JSONPath, the default
        var parameters = task["Parameters"]!.AsObject();
        Assert.Equal(["FunctionName", "Payload"], parameters.Select(p => p.Key));
        Assert.True(JsonNode.DeepEquals(container["Parameters"]!["FunctionName"], parameters["FunctionName"]));
        var payload = parameters["Payload"]!.AsObject();
        Assert.Equal("SAGEMAKER_TRAINING", (string)payload["ServiceJobType"]!);
        Assert.Equal("$.trainingJob", (string)payload["ServiceRequestPayload.$"]!);
        Assert.Equal("$$.Task.Token", (string)payload["TaskToken.$"]!);
        Assert.Equal("$$.Execution.Id", (string)payload["ExecutionArn.$"]!);
        Assert.Equal("$$.State.Name", (string)payload["StateName.$"]!);
        Assert.True(JsonNode.DeepEquals(container["Parameters"]!["Payload"]!["JobQueue"], payload["JobQueue"]));
        // A path member's value is a path (of the input or, with $$, the context); the others are literals.
        Assert.All(payload.Where(p => p.Key.EndsWith(".$")), p => Assert.StartsWith("$", (string)p.Value!));
        var (members, required) = SubmitServiceJobMembers();
        var names = payload.Select(p => p.Key.EndsWith(".$") ? p.Key[..^2] : p.Key).ToList();
        Assert.All(names, n => Assert.True(members.Contains(n) || BatchSyncMembers.Contains(n), n));
        Assert.Subset(names.ToHashSet(), required);
        Assert.DoesNotContain("JobDefinition", names); // a service job has none: the payload says which API it means
        Assert.DoesNotContain("ContainerOverrides", names);
        // The payload's TimeoutSeconds is the state's own (README: a sweep check right after it).
        Assert.Equal((int)task["TimeoutSeconds"]!, (int)payload["TimeoutSeconds"]!);
        Assert.True(JsonNode.DeepEquals(container["Retry"], task["Retry"]));
        Assert.True(JsonNode.DeepEquals(container["ResultPath"], task["ResultPath"]));
    }

    [Fact]
    public void The_JSONata_example_is_the_same_task_with_Arguments_and_makes_the_training_job_a_string()
    {
        var machine = Example("service-job-state-machine.jsonata.asl.json");
        Assert.Equal("JSONata", (string)machine["QueryLanguage"]!);
        var task = AssertOneTaskMachine(machine);
        var jsonPath = AssertOneTaskMachine(Example("service-job-state-machine.asl.json"));
        // JSONata states take Arguments and Output; JSONPath's fields are refused there.
        foreach (var field in new[] { "Parameters", "InputPath", "OutputPath", "ResultPath", "ResultSelector" })
        {
            Assert.Null(task[field]);
        }
        var arguments = task["Arguments"]!.AsObject();
        Assert.Equal(["FunctionName", "Payload"], arguments.Select(p => p.Key));
        Assert.True(JsonNode.DeepEquals(jsonPath["Parameters"]!["FunctionName"], arguments["FunctionName"]));
        var payload = arguments["Payload"]!.AsObject();
        Assert.DoesNotContain(payload, p => p.Key.EndsWith(".$"));
        var jsonPathPayload = jsonPath["Parameters"]!["Payload"]!.AsObject();
        Assert.Equal(jsonPathPayload.Select(p => p.Key.EndsWith(".$") ? p.Key[..^2] : p.Key), payload.Select(p => p.Key));
        // Literals as in the JSONPath form; paths become expressions ({% ... %}).
        foreach (var (name, value) in payload)
        {
            if (jsonPathPayload[name] is { } literal)
            {
                Assert.True(JsonNode.DeepEquals(literal, value), name);
            }
            else
            {
                Assert.Matches(@"^\{%.*%\}$", (string)value!);
            }
        }
        Assert.Equal("{% $string($states.input.trainingJob) %}", (string)payload["ServiceRequestPayload"]!);
        Assert.Equal("{% $states.context.Task.Token %}", (string)payload["TaskToken"]!);
        Assert.Equal("{% $states.context.Execution.Id %}", (string)payload["ExecutionArn"]!);
        Assert.Equal("{% $states.context.State.Name %}", (string)payload["StateName"]!);
        Assert.True(JsonNode.DeepEquals(jsonPath["Retry"], task["Retry"]));
        Assert.True(JsonNode.DeepEquals(jsonPath["TimeoutSeconds"], task["TimeoutSeconds"]));
        // The JSONPath form's ResultPath "$.job": the input, with the answer as job.
        Assert.Equal("$.job", (string)jsonPath["ResultPath"]!);
        Assert.Equal("{% $merge([$states.input, {'job': $states.result}]) %}", (string)task["Output"]!);
    }

    // ---- helpers

    private static List<string> Actions(JsonObject statement) =>
        statement["Action"] is JsonArray a ? a.Select(x => (string)x!).ToList() : [(string)statement["Action"]!];

    private static List<string> Resources(JsonObject statement) =>
        statement["Resource"] is JsonArray a ? a.Select(x => (string)x!).ToList() : [(string)statement["Resource"]!];

    /// <summary>Every statement of every role's inline policies and of every separate policy, with the role(s) it is on.</summary>
    private static IEnumerable<(string Role, JsonObject Statement)> RoleStatements(Deployment hub) =>
        hub.OfType("AWS::IAM::Role").SelectMany(r => (r.Value["Policies"]?.AsArray() ?? [])
                .SelectMany(p => p!["PolicyDocument"]!["Statement"]!.AsArray()).Select(s => (r.Key, s!.AsObject())))
            .Concat(hub.OfType("AWS::IAM::Policy").Concat(hub.OfType("AWS::IAM::ManagedPolicy"))
                .SelectMany(p => (p.Value["Roles"]?.AsArray().Select(r => (string)r!["Ref"]!) ?? ["(none)"])
                    .SelectMany(role => Statements(p.Value["PolicyDocument"]!).Select(s => (role, s)))));

    private static IEnumerable<JsonObject> Statements(JsonNode document) =>
        document["Statement"] is JsonArray a ? a.Select(s => s!.AsObject()) : [document["Statement"]!.AsObject()];

    private static readonly Dictionary<string, Deployment> Hubs = new();

    /// <summary>template.yaml after the SAM transform with these parameters, as CloudFormation would deploy it (us-east-1).</summary>
    private static Deployment HubWith(params (string Name, string Value)[] values)
    {
        var key = string.Join(' ', values.Select(v => $"{v.Name}={v.Value}"));
        lock (Hubs)
        {
            if (Hubs.TryGetValue(key, out var cached))
            {
                return cached;
            }
            var start = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = SamTemplate.RepoRoot };
            start.ArgumentList.Add(Path.Combine(SamTemplate.RepoRoot, "tools", "sam_transform.py"));
            foreach (var (name, value) in values)
            {
                start.ArgumentList.Add($"{name}={value}");
            }
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEnd();
            process.WaitForExit();
            Assert.True(process.ExitCode == 0, $"sam_transform {key}: {error}");
            var template = JsonNode.Parse(output.Result)!.AsObject();
            return Hubs[key] = new Deployment(template, values.ToDictionary(v => v.Name, v => v.Value), Account, "us-east-1");
        }
    }
}
