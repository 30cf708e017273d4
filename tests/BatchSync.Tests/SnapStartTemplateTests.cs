using System.Diagnostics;
using System.Text.Json.Nodes;

namespace BatchSync.Tests;

/// <summary>
/// template.yaml after the SAM transform (tools/sam_transform.py: samtranslator through cfn-lint's wrapper, fed the
/// parameter as CloudFormation feeds it), with the SnapStart parameter off and on: with PublishedVersions every
/// function's published versions are snapshotted and everything that invokes a function or hands out its ARN points
/// at the alias "live"; with None (the default) at the function, as before.
/// </summary>
public class SnapStartTemplateTests
{
    private static readonly string[] Functions = ["SubmitJobFunction", "JobStateChangeFunction", "CallbackFunction", "ReconcileFunction"];
    private static readonly Dictionary<string, JsonObject> Transformed = new();

    public static TheoryData<string> Values => new() { "None", "PublishedVersions" };

    [Theory]
    [MemberData(nameof(Values))]
    public void Every_function_publishes_a_version_behind_the_alias_and_snapshots_it_only_when_on(string value)
    {
        var t = Transform(value);
        foreach (var function in Functions)
        {
            var properties = Resource(t, function, "AWS::Lambda::Function")["Properties"]!;
            Assert.Equal(value, (string)Resolve(properties["SnapStart"]!["ApplyOn"]!, value)!);
            var alias = Resource(t, function + "Aliaslive", "AWS::Lambda::Alias")["Properties"]!;
            Assert.Equal("live", (string)alias["Name"]!);
            var version = (string)alias["FunctionVersion"]!["Fn::GetAtt"]![0]!;
            Assert.Equal("AWS::Lambda::Version", (string)t["Resources"]![version]!["Type"]!);
            Assert.True(JsonNode.DeepEquals(Ref(function), t["Resources"]![version]!["Properties"]!["FunctionName"]));
        }
    }

    [Fact]
    public void Switching_SnapStart_publishes_a_new_version_so_the_alias_gets_a_snapshot()
    {
        foreach (var function in Functions)
        {
            Assert.NotEqual(VersionOf(Transform("None"), function), VersionOf(Transform("PublishedVersions"), function));
        }
    }

    [Theory]
    [MemberData(nameof(Values))]
    public void Every_rule_permission_on_failure_config_and_output_points_at_the_alias_when_on_and_the_function_when_off(string value)
    {
        var t = Transform(value);
        var on = value == "PublishedVersions";
        JsonNode Invoked(string function) => on ? Ref(function + "Aliaslive") : GetAtt(function, "Arn");
        JsonNode Named(string function) => on ? Ref(function + "Aliaslive") : Ref(function);

        var targets = new List<string>();
        foreach (var (id, rule) in OfType(t, "AWS::Events::Rule"))
        {
            // A target may itself be conditional (the sweep's parts): each one that can exist is checked.
            foreach (var item in rule["Properties"]!["Targets"]!.AsArray())
            {
                var target = item is JsonObject { Count: 1 } conditional && conditional["Fn::If"] is JsonArray branches ? branches[1]! : item!;
                var arn = Resolve(target["Arn"]!, value);
                if (FunctionReferenced(arn) is { } function)
                {
                    Assert.True(JsonNode.DeepEquals(Invoked(function), arn), $"{id}: {arn!.ToJsonString()}");
                    targets.Add(id);
                }
            }
        }
        Assert.Equal(["JobStateChangeFunctionBatchJobStateChange", "ReconcileFunctionExecutionStopped", "ReconcileFunctionSweep", "ServiceJobStateChangeRule", "SpokeExecutionStatusChangeRule", "SpokeSubmitJobRule"], targets.Distinct().Order(StringComparer.Ordinal));
        Assert.Equal(4, targets.Count(t => t == "ReconcileFunctionSweep")); // one per part of the sweep

        var permissions = OfType(t, "AWS::Lambda::Permission").ToList();
        Assert.Equal(6 + 10 + 1, permissions.Count); // the rules', and SubmitJob's for tenants (10 accounts, an organization)
        foreach (var (id, permission) in permissions)
        {
            var name = Resolve(permission["Properties"]!["FunctionName"]!, value);
            var function = FunctionReferenced(name) ?? throw new Xunit.Sdk.XunitException($"{id} names no function");
            Assert.True(JsonNode.DeepEquals(Named(function), name), $"{id}: {name!.ToJsonString()}");
            if (id.StartsWith("SubmitJobTenant", StringComparison.Ordinal) || id == "SubmitJobOrganizationPermission")
            {
                Assert.Equal("SubmitJobFunction", function); // tenants' state machines invoke SubmitJob (SpokeTemplateTests)
                continue;
            }
            Assert.Equal("events.amazonaws.com", (string)permission["Properties"]!["Principal"]!);
            var rule = (string)permission["Properties"]!["SourceArn"]!["Fn::GetAtt"]![0]!;
            Assert.Contains(rule, targets);
        }

        var configs = OfType(t, "AWS::Lambda::EventInvokeConfig").ToList();
        Assert.Equal(["JobStateChangeFunctionEventInvokeConfig", "ReconcileFunctionEventInvokeConfig", "SubmitJobFunctionEventInvokeConfig"], configs.Select(c => c.Id).Order());
        foreach (var (id, config) in configs)
        {
            Assert.Equal(on ? "live" : "$LATEST", (string)Resolve(config["Properties"]!["Qualifier"]!, value)!);
            Assert.NotNull(config["Properties"]!["DestinationConfig"]!["OnFailure"]!["Destination"]);
        }

        var outputs = t["Outputs"]!.AsObject().Where(o => FunctionReferenced(Resolve(o.Value!["Value"]!, value)) is not null).ToList();
        Assert.Equal(["CallbackFunctionArn", "JobStateChangeFunctionArn", "ReconcileFunctionArn", "SubmitJobFunctionArn"], outputs.Select(o => o.Key).Order());
        foreach (var (key, output) in outputs)
        {
            var resolved = Resolve(output!["Value"]!, value);
            Assert.True(JsonNode.DeepEquals(Invoked(FunctionReferenced(resolved)!), resolved), $"{key}: {resolved!.ToJsonString()}");
        }

        // The managed policies that let callers invoke SubmitJob and Callback allow the function and its qualifiers.
        foreach (var (policy, function) in new[] { ("InvokeSubmitJobPolicy", "SubmitJobFunction"), ("InvokeCallbackPolicy", "CallbackFunction") })
        {
            var resources = t["Resources"]![policy]!["Properties"]!["PolicyDocument"]!["Statement"]![0]!["Resource"]!.AsArray();
            Assert.Contains(resources, r => JsonNode.DeepEquals(r, GetAtt(function, "Arn")));
            Assert.Contains(resources, r => JsonNode.DeepEquals(r, new JsonObject { ["Fn::Sub"] = "${" + function + ".Arn}:*" }));
        }
    }

    [Theory]
    [MemberData(nameof(Values))]
    public void Each_asynchronously_invoked_function_may_send_to_its_on_failure_queue(string value)
    {
        var t = Transform(value);
        foreach (var (function, queue) in new[] { ("JobStateChangeFunction", "FailedInvocationQueue"), ("ReconcileFunction", "ReconcileFailedInvocationQueue") })
        {
            var destination = t["Resources"]![function + "EventInvokeConfig"]!["Properties"]!["DestinationConfig"]!["OnFailure"]!["Destination"]!;
            Assert.True(JsonNode.DeepEquals(GetAtt(queue, "Arn"), destination));
            var role = t["Resources"]![function + "Role"]!["Properties"]!;
            var statements = role["Policies"]!.AsArray().SelectMany(p => p!["PolicyDocument"]!["Statement"]!.AsArray());
            Assert.Contains(statements, s => JsonNode.DeepEquals(s!["Resource"], GetAtt(queue, "Arn"))
                && s["Action"] is JsonArray actions && actions.Any(a => (string)a! == "sqs:SendMessage"));
        }
    }

    private static string VersionOf(JsonObject t, string function) =>
        (string)t["Resources"]![function + "Aliaslive"]!["Properties"]!["FunctionVersion"]!["Fn::GetAtt"]![0]!;

    private static JsonObject Resource(JsonObject t, string id, string type)
    {
        var resource = t["Resources"]![id] ?? throw new Xunit.Sdk.XunitException($"no resource {id}");
        Assert.Equal(type, (string)resource["Type"]!);
        return resource.AsObject();
    }

    private static IEnumerable<(string Id, JsonObject Resource)> OfType(JsonObject t, string type) =>
        t["Resources"]!.AsObject().Where(r => (string)r.Value!["Type"]! == type).Select(r => (r.Key, r.Value!.AsObject()));

    private static JsonNode Ref(string id) => new JsonObject { ["Ref"] = id };

    private static JsonNode GetAtt(string id, string attribute) => new JsonObject { ["Fn::GetAtt"] = new JsonArray(id, attribute) };

    /// <summary>The function a Ref/GetAtt names (itself or its alias), if any.</summary>
    private static string? FunctionReferenced(JsonNode? node)
    {
        var id = node switch
        {
            JsonObject o when o["Ref"] is JsonValue r => (string)r!,
            JsonObject o when o["Fn::GetAtt"] is JsonArray { Count: 2 } a => (string)a[0]!,
            _ => null,
        };
        return id is null ? null : Functions.FirstOrDefault(f => id == f || id == f + "Aliaslive");
    }

    /// <summary>Resolves Fn::If on SnapStartOn and a Ref to the SnapStart parameter for the given value; anything else stays.</summary>
    private static JsonNode? Resolve(JsonNode node, string value) => node switch
    {
        JsonObject o when o["Fn::If"] is JsonArray { Count: 3 } branches =>
            (string)branches[0]! == "SnapStartOn"
                ? Resolve(branches[value == "PublishedVersions" ? 1 : 2]!, value)
                : throw new Xunit.Sdk.XunitException($"unexpected condition {branches[0]}"),
        JsonObject o when o["Ref"] is JsonValue r && (string)r! == "SnapStart" => JsonValue.Create(value),
        _ => node.DeepClone(),
    };

    private static JsonObject Transform(string value)
    {
        lock (Transformed)
        {
            if (!Transformed.TryGetValue(value, out var template))
            {
                var root = RepoRoot();
                var start = new ProcessStartInfo("python3") { WorkingDirectory = root, RedirectStandardOutput = true, RedirectStandardError = true };
                start.ArgumentList.Add(Path.Combine(root, "tools", "sam_transform.py"));
                start.ArgumentList.Add($"SnapStart={value}");
                using var process = Process.Start(start)!;
                var stdout = process.StandardOutput.ReadToEndAsync();
                var stderr = process.StandardError.ReadToEnd();
                process.WaitForExit();
                Assert.True(process.ExitCode == 0, $"sam_transform.py SnapStart={value} failed: {stderr}");
                Transformed[value] = template = JsonNode.Parse(stdout.Result)!.AsObject();
            }
            return template;
        }
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "template.yaml")) && Directory.Exists(Path.Combine(dir.FullName, "tools")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("template.yaml not found above " + AppContext.BaseDirectory);
    }
}
