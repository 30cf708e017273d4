using System.Diagnostics;
using System.Reflection;
using System.Text.Json.Nodes;

namespace BatchSync.LocalWorld;

/// <summary>template.yaml as the local world reads it: decoded by cfn-lint (the same parser CI lints with) into JSON.</summary>
public static class SamTemplate
{
    private static readonly Lazy<JsonObject> Decoded = new(() => Decode("template.yaml"));
    private static readonly Lazy<JsonObject> DecodedSpoke = new(() => Decode("spoke.yaml"));

    /// <summary>spoke.yaml, decoded as template.yaml is.</summary>
    public static JsonObject Spoke => DecodedSpoke.Value;

    /// <summary>
    /// A resource's property in either template with every Fn::Sub and Ref resolved from <paramref name="values"/>
    /// (pseudo parameters and parameters by name), then the parameters' defaults.
    /// </summary>
    public static JsonNode Property(JsonObject template, string logicalId, string property, IReadOnlyDictionary<string, string> values) =>
        Substitute(template["Resources"]![logicalId]!["Properties"]![property]!.DeepClone(), template, values)!;

    private static JsonNode? Substitute(JsonNode? node, JsonObject template, IReadOnlyDictionary<string, string> values)
    {
        string Value(string name) => values.TryGetValue(name, out var v) ? v
            : (string?)template["Parameters"]?[name]?["Default"] ?? throw new KeyNotFoundException($"No value for {name}");
        return node switch
        {
            JsonObject o when o.Count == 1 && o["Fn::Sub"] is JsonValue sub =>
                JsonValue.Create(System.Text.RegularExpressions.Regex.Replace((string)sub!, @"\$\{([^}]+)\}", m => Value(m.Groups[1].Value))),
            JsonObject o when o.Count == 1 && o["Ref"] is JsonValue r => JsonValue.Create(Value((string)r!)),
            JsonObject o => new JsonObject(o.Select(p => KeyValuePair.Create(p.Key, Substitute(p.Value?.DeepClone(), template, values)))),
            JsonArray a => new JsonArray(a.Select(i => Substitute(i?.DeepClone(), template, values)).ToArray()),
            _ => node?.DeepClone(),
        };
    }

    public static string RepoRoot { get; } = FindRoot();

    public static JsonObject Json => Decoded.Value;

    public static JsonObject Resource(string logicalId) => Json["Resources"]![logicalId]!.AsObject();

    public static string Handler(string logicalId) => (string)Resource(logicalId)["Properties"]!["Handler"]!;

    /// <summary>The logical ids of the template's functions (AWS::Serverless::Function), in template order.</summary>
    public static IReadOnlyList<string> Functions() =>
        Json["Resources"]!.AsObject().Where(r => (string?)r.Value!["Type"] == "AWS::Serverless::Function").Select(r => r.Key).ToList();

    /// <summary>
    /// An EventBridge rule's event pattern with ${AWS::StackName} and parameters (their defaults) resolved. The rules are
    /// declared as AWS::Events::Rule resources named as SAM names an event's rule, &lt;function logical id&gt;&lt;event
    /// name&gt;, so that they can invoke the alias or the function (the SnapStart parameter).
    /// </summary>
    public static JsonObject RulePattern(string stackName, string function = "JobStateChangeFunction", string eventName = "BatchJobStateChange")
    {
        var pattern = Resource(function + eventName)["Properties"]!["EventPattern"]!.DeepClone();
        return (JsonObject)Resolve(pattern, stackName)!;
    }

    /// <summary>Every event-pattern rule that invokes a function: the function, the event's name and its resolved pattern.</summary>
    public static IReadOnlyList<(string Function, string EventName, JsonObject Pattern)> EventRules(string stackName) =>
        Json["Resources"]!.AsObject()
            .Where(r => (string?)r.Value!["Type"] == "AWS::Events::Rule" && r.Value!["Properties"]?["EventPattern"] is not null)
            .Select(r => (Id: r.Key, Function: Functions().FirstOrDefault(f => TargetsFunction(r.Value!, f))))
            .Where(r => r.Function is not null && r.Id.StartsWith(r.Function, StringComparison.Ordinal))
            .Select(r => (r.Function!, r.Id[r.Function!.Length..], RulePattern(stackName, r.Function!, r.Id[r.Function!.Length..])))
            .ToList();

    /// <summary>Whether a rule's target is the function, or (SnapStart on) its alias.</summary>
    private static bool TargetsFunction(JsonNode rule, string function) =>
        rule["Properties"]!["Targets"]!.AsArray().Any(t => t!["Arn"]!.ToJsonString().Contains($"\"{function}\"", StringComparison.Ordinal)
            || t["Arn"]!.ToJsonString().Contains($"\"{function}Aliaslive\"", StringComparison.Ordinal));

    /// <summary>
    /// The SQS queues the template declares (logical ids): AWS::SQS::Queue resources, and the dead-letter queues SAM
    /// creates for EventBridgeRule events (<c>DeadLetterConfig.QueueLogicalId</c>).
    /// </summary>
    public static IReadOnlyList<string> Queues() =>
        Json["Resources"]!.AsObject().Where(r => (string?)r.Value!["Type"] == "AWS::SQS::Queue").Select(r => r.Key)
            .Concat(Functions().SelectMany(f => (Resource(f)["Properties"]!["Events"]?.AsObject() ?? [])
                .Select(e => e.Value?["Properties"]?["DeadLetterConfig"])
                .Where(d => (string?)d?["Type"] == "SQS" && d?["QueueLogicalId"] is not null)
                .Select(d => (string)d!["QueueLogicalId"]!)))
            .Distinct().ToList();

    /// <summary>
    /// The environment every function gets from Globals (Function.Environment.Variables), resolved as CloudFormation
    /// would for this stack: <c>!Ref AWS::StackName</c>, a table's <c>!Ref</c> (its name), a parameter's default, and
    /// <c>!Join</c> of those.
    /// </summary>
    public static IReadOnlyDictionary<string, string> FunctionEnvironment(string stackName, IReadOnlyDictionary<string, string> physicalNames)
    {
        var variables = Json["Globals"]?["Function"]?["Environment"]?["Variables"]?.AsObject() ?? [];
        var parameters = Json["Parameters"]?.AsObject() ?? [];
        var resolved = new Dictionary<string, string>();
        string Value(string name, JsonNode? value) => value switch
        {
            JsonObject o when o["Ref"] is JsonValue r && (string)r! == "AWS::StackName" => stackName,
            JsonObject o when o["Ref"] is JsonValue r && physicalNames.TryGetValue((string)r!, out var physical) => physical,
            JsonObject o when o["Ref"] is JsonValue r && parameters[(string)r!]?["Default"] is { } d => d.ToString(),
            JsonObject o when o["Fn::Join"] is JsonArray { Count: 2 } join && join[1] is JsonArray parts =>
                string.Join((string)join[0]!, parts.Select(p => Value(name, p))),
            JsonValue v => v.ToString(),
            _ => throw new NotSupportedException($"Globals variable {name}: cannot resolve {value?.ToJsonString()} locally."),
        };
        foreach (var (name, value) in variables)
        {
            resolved[name] = Value(name, value);
        }
        return resolved;
    }

    /// <summary>
    /// Loads a handler the way the managed dotnet runtime does: "Assembly::Namespace.Type::Method", one instance,
    /// a Task&lt;Stream&gt; Method(Stream). Without an artifact folder, from this process's own assemblies (the tests
    /// reference the function projects); with one, from that folder through its deps.json (see <see cref="FunctionArtifact"/>).
    /// </summary>
    public static Func<Stream, Task<Stream>> LoadHandler(string logicalId) =>
        HandlerOf(Handler(logicalId), name => Assembly.Load(name));

    internal static Func<Stream, Task<Stream>> HandlerOf(string handler, Func<AssemblyName, Assembly> load)
    {
        var parts = handler.Split("::");
        if (parts.Length != 3)
        {
            throw new FormatException($"The handler '{handler}' is not Assembly::Namespace.Type::Method.");
        }
        var type = load(new AssemblyName(parts[0])).GetType(parts[1], throwOnError: true)!;
        var method = type.GetMethod(parts[2], [typeof(Stream)]) ?? throw new MissingMethodException(parts[1], parts[2]);
        if (method.ReturnType != typeof(Task<Stream>))
        {
            throw new InvalidOperationException($"{parts[1]}.{parts[2]} returns {method.ReturnType}, not Task<Stream>.");
        }
        var instance = Activator.CreateInstance(type)!;
        return input => (Task<Stream>)method.Invoke(instance, [input])!;
    }

    private static JsonNode? Resolve(JsonNode? node, string stackName) => node switch
    {
        JsonObject o when o.Count == 1 && o.ContainsKey("Fn::Sub") => JsonValue.Create(((string)o["Fn::Sub"]!).Replace("${AWS::StackName}", stackName)),
        // A parameter as deployed with its default (e.g. the stop rule's StateMachineArnPrefix).
        JsonObject o when o.Count == 1 && o["Ref"] is JsonValue r && Json["Parameters"]?[(string)r!]?["Default"] is { } d => d.DeepClone(),
        JsonObject o => new JsonObject(o.Select(p => KeyValuePair.Create(p.Key, Resolve(p.Value?.DeepClone(), stackName)))),
        JsonArray a => new JsonArray(a.Select(i => Resolve(i?.DeepClone(), stackName)).ToArray()),
        _ => node?.DeepClone(),
    };

    private static JsonObject Decode(string file)
    {
        var start = new ProcessStartInfo("python3",
            ["-c", "import json,sys\nfrom cfnlint.decode import decode\nt,m=decode(sys.argv[1])\nassert t is not None, m\nprint(json.dumps(t, default=str))", Path.Combine(RepoRoot, file)])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"cfn-lint could not decode {file}: {error}");
        }
        return JsonNode.Parse(output.GetAwaiter().GetResult())!.AsObject();
    }

    private static string FindRoot()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "template.yaml")))
                {
                    return dir.FullName;
                }
            }
        }
        throw new DirectoryNotFoundException("template.yaml not found above " + AppContext.BaseDirectory);
    }
}
