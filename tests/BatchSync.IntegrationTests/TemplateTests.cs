using System.Text.Json.Nodes;

namespace BatchSync.IntegrationTests;

/// <summary>template.yaml, read as CloudFormation sees it (decoded by cfn-lint).</summary>
public class TemplateTests
{
    private static readonly string[] Functions = ["SubmitJobFunction", "JobStateChangeFunction", "CallbackFunction", "ReconcileFunction"];

    // Actions with no resource-level permissions (Service Authorization Reference data bundled with cfn-lint; the
    // service-job ones from the Reference itself, DEVELOPERS.md "Service jobs: what is known", fact 9).
    private static readonly HashSet<string> NoResourceLevel = ["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat", "batch:DescribeJobs", "batch:ListJobs", "batch:DescribeServiceJob", "batch:ListServiceJobs"];

    /// <summary>
    /// Every statement a function's policies may hold: a conditional one (<c>!If [ServiceJobsOn, statement,
    /// AWS::NoValue]</c>, ServiceJobTemplateTests) as the statement it grants when its condition holds.
    /// </summary>
    private static IEnumerable<JsonObject> Statements(string function) =>
        SamTemplate.Resource(function)["Properties"]!["Policies"]!.AsArray()
            .SelectMany(p => p!["Statement"]!.AsArray()).Select(s => Unconditional(s!));

    internal static JsonObject Unconditional(JsonNode statement) =>
        statement is JsonObject o && o["Fn::If"] is JsonArray branches ? branches[1]!.AsObject() : statement.AsObject();

    [Fact]
    public void TerminateJob_is_scoped_to_jobs()
    {
        foreach (var function in Functions)
        {
            foreach (var statement in Statements(function).Where(s => s["Action"]!.AsArray().Any(a => (string)a! == "batch:TerminateJob")))
            {
                Assert.Equal("arn:${AWS::Partition}:batch:${AWS::Region}:${AWS::AccountId}:job/*", (string)statement["Resource"]!["Fn::Sub"]!);
            }
        }
    }

    private static IEnumerable<string> Actions(string function) =>
        Statements(function).SelectMany(s => s["Action"]!.AsArray().Select(a => (string)a!));

    /// <summary>The IAM actions template.yaml grants a function.</summary>
    public static IReadOnlySet<string> GrantedActions(string function) => Actions(function).ToHashSet();

    public static TheoryData<string, string[]> ExpectedActions() => new()
    {
        // TerminateJob: a job submitted after its execution stopped; ListJobs/DescribeJobs: the job of a crashed earlier attempt;
        // SendTaskHeartbeat: whether a task still waits, before a failure whose acknowledgment was lost is sent again.
        // sqs:SendMessage: Lambda's, for a relayed (asynchronous) invocation that failed (SubmitJobFunctionEventInvokeConfig).
        // Service jobs (issue 21; granted only when AllowedServiceRoles is set, ServiceJobTemplateTests): each container-job
        // action's counterpart, TagResource (on service jobs) and iam:PassRole (the listed roles, to SageMaker).
        { "SubmitJobFunction", ["batch:SubmitJob", "batch:TagResource", "batch:TerminateJob", "batch:ListJobs", "batch:DescribeJobs", "states:SendTaskFailure", "states:SendTaskHeartbeat", "dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "sqs:SendMessage",
            "batch:SubmitServiceJob", "batch:TagResource", "iam:PassRole", "batch:TerminateServiceJob", "batch:ListServiceJobs", "batch:DescribeServiceJob"] },
        // TerminateJob: a heartbeat found the task gone.
        // GetLogEvents: the log tail of a failed job whose task opted into LogTail (JobStateChange, and the sweep's deliveries).
        // ListJobs: an array parent's failed children (ArraySummary).
        // sqs:SendMessage: not our code's but Lambda's, sending a failed asynchronous invocation to the function's
        // on-failure queue with the function's role (the template declares the EventInvokeConfig, so it grants it; SAM
        // added it when it made the configuration).
        { "JobStateChangeFunction", ["batch:DescribeJobs", "batch:ListJobs", "batch:TerminateJob", "states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat", "dynamodb:GetItem", "dynamodb:UpdateItem", "logs:GetLogEvents", "sqs:SendMessage",
            "batch:DescribeServiceJob", "batch:TerminateServiceJob"] },
        { "CallbackFunction", ["batch:DescribeJobs", "batch:TerminateJob", "states:SendTaskFailure", "states:SendTaskHeartbeat", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query",
            "batch:TerminateServiceJob"] },
        { "ReconcileFunction", ["batch:DescribeJobs", "batch:ListJobs", "batch:TerminateJob", "states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat", "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:TransactWriteItems", "dynamodb:UpdateItem", "dynamodb:Query", "logs:GetLogEvents", "sqs:SendMessage",
            "batch:DescribeServiceJob", "batch:ListServiceJobs", "batch:TerminateServiceJob"] },
    };

    [Theory]
    [MemberData(nameof(ExpectedActions))]
    public void Each_function_is_granted_exactly_the_actions_its_code_uses(string function, string[] expected)
    {
        Assert.Equal(expected.Order(), Actions(function).Order());
        Assert.DoesNotContain(Actions(function), a => a.Contains('*'));
    }

    [Fact]
    public void GetLogEvents_is_granted_only_on_the_configured_log_groups()
    {
        static string Stream(string parameter) => "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${" + parameter + "}:log-stream:*";
        foreach (var function in Functions)
        {
            var statements = Statements(function).Where(s => s["Action"]!.AsArray().Any(a => ((string)a!).StartsWith("logs:"))).ToList();
            if (function is "SubmitJobFunction" or "CallbackFunction")
            {
                Assert.Empty(statements);
                continue;
            }
            var statement = Assert.Single(statements);
            Assert.Equal(["logs:GetLogEvents"], statement["Action"]!.AsArray().Select(a => (string)a!));
            var resources = statement["Resource"]!.AsArray();
            Assert.Equal(Stream("LogTailLogGroup"), (string)resources[0]!["Fn::Sub"]!);
            var extra = resources[1]!["Fn::If"]!.AsArray();
            Assert.Equal("HasExtraLogTailLogGroup", (string)extra[0]!);
            Assert.Equal(Stream("ExtraLogTailLogGroup"), (string)extra[1]!["Fn::Sub"]!);
            Assert.Equal("AWS::NoValue", (string)extra[2]!["Ref"]!);
        }
        Assert.Equal("/aws/batch/job", (string)SamTemplate.Json["Parameters"]!["LogTailLogGroup"]!["Default"]!);
        // The functions read only the groups the policy names (BATCHSYNC_LOG_TAIL_GROUPS), so a read never meets AccessDenied.
        var groups = SamTemplate.Json["Globals"]!["Function"]!["Environment"]!["Variables"]!["BATCHSYNC_LOG_TAIL_GROUPS"]!["Fn::Join"]!.AsArray();
        Assert.Equal(["LogTailLogGroup", "ExtraLogTailLogGroup"], groups[1]!.AsArray().Select(r => (string)r!["Ref"]!));
    }

    [Fact]
    public void Wildcard_resources_only_where_the_service_allows_nothing_narrower()
    {
        foreach (var function in Functions)
        {
            foreach (var statement in Statements(function).Where(s => s["Resource"] is JsonValue v && (string)v! == "*"))
            {
                Assert.All(statement["Action"]!.AsArray(), a => Assert.Contains((string)a!, NoResourceLevel));
            }
        }
    }

    [Fact]
    public void BatchSync_grants_no_Batch_action_beyond_the_native_integrations_tagging_and_listing()
    {
        var native = JsonNode.Parse(File.ReadAllText(Path.Combine(SamTemplate.RepoRoot, "tests", "BatchSync.Tests", "Fixtures", "native-sync", "iam-policy-sync.json")))!;
        var nativeBatch = native["Statement"]!.AsArray().SelectMany(s => s!["Action"]!.AsArray().Select(a => (string)a!)).Where(a => a.StartsWith("batch:")).ToHashSet();
        var ours = Functions.SelectMany(Actions).Where(a => a.StartsWith("batch:")).ToHashSet();
        // ListJobs finds the job of a crashed submit (SubmitJob has no idempotency token); TagResource is needed for Tags.
        // Service jobs (issue 21, only when AllowedServiceRoles is set): the counterpart of each of those, no more.
        var container = nativeBatch.Append("batch:TagResource").Append("batch:ListJobs").ToHashSet();
        var counterparts = new Dictionary<string, string>
        {
            ["batch:SubmitJob"] = "batch:SubmitServiceJob", ["batch:DescribeJobs"] = "batch:DescribeServiceJob",
            ["batch:TerminateJob"] = "batch:TerminateServiceJob", ["batch:ListJobs"] = "batch:ListServiceJobs",
        };
        Assert.Subset(container.Concat(container.Where(counterparts.ContainsKey).Select(a => counterparts[a])).ToHashSet(), ours);
        Assert.Superset(nativeBatch, ours);
    }

    [Fact]
    public void Handlers_are_class_library_methods_on_dotnet10()
    {
        Assert.Equal("dotnet10", (string)SamTemplate.Json["Globals"]!["Function"]!["Runtime"]!);
        Assert.Equal("JSON", (string)SamTemplate.Json["Globals"]!["Function"]!["LoggingConfig"]!["LogFormat"]!);
        foreach (var function in Functions)
        {
            Assert.Matches(@"^BatchSync\.\w+::BatchSync\.\w+\.Function::HandleAsync$", SamTemplate.Handler(function));
            Assert.Equal("makefile", (string)SamTemplate.Resource(function)["Metadata"]!["BuildMethod"]!);
        }
    }

    [Fact]
    public void The_event_rule_retries_and_keeps_what_it_cannot_deliver()
    {
        var target = SamTemplate.Resource("JobStateChangeFunctionBatchJobStateChange")["Properties"]!["Targets"]![0]!;
        Assert.NotNull(target["RetryPolicy"]!["MaximumRetryAttempts"]);
        Assert.Equal("EventDeliveryDeadLetterQueue", (string)target["DeadLetterConfig"]!["Arn"]!["Fn::GetAtt"]![0]!);
        var onFailure = SamTemplate.Resource("JobStateChangeFunctionEventInvokeConfig")["Properties"]!["DestinationConfig"]!["OnFailure"]!;
        Assert.Equal("FailedInvocationQueue", (string)onFailure["Destination"]!["Fn::GetAtt"]![0]!);
        var table = SamTemplate.Resource("JobTable")["Properties"]!;
        Assert.Equal("PAY_PER_REQUEST", (string)table["BillingMode"]!);
        Assert.Equal("ExpiresAt", (string)table["TimeToLiveSpecification"]!["AttributeName"]!);
        foreach (var output in SamTemplate.Json["Outputs"]!.AsObject())
        {
            Assert.False(string.IsNullOrWhiteSpace((string?)output.Value!["Description"]), output.Key);
        }
    }
}

/// <summary>The README's claims point at tests that exist.</summary>
public class ReadmeTests
{
    [Fact]
    public void Every_test_the_README_cites_exists()
    {
        var readme = File.ReadAllText(Path.Combine(SamTemplate.RepoRoot, "README.md"));
        var cited = System.Text.RegularExpressions.Regex.Matches(readme, @"`([A-Z][a-z]+(?:_[A-Za-z0-9]+){2,})`").Select(m => m.Groups[1].Value).Distinct().ToList();
        Assert.NotEmpty(cited);
        var sources = string.Join("\n", Directory.GetFiles(Path.Combine(SamTemplate.RepoRoot, "tests"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}")).Select(File.ReadAllText));
        Assert.All(cited, name => Assert.Matches($@"(void|Task) {name}\(", sources));
    }
}
