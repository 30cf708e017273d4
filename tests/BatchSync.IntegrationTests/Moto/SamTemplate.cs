using System.Diagnostics;
using System.Reflection;
using System.Text.Json.Nodes;

namespace BatchSync.IntegrationTests.Moto;

/// <summary>template.yaml as the tests read it: decoded by cfn-lint (the same parser CI lints with) into JSON.</summary>
public static class SamTemplate
{
    private static readonly Lazy<JsonObject> Decoded = new(Decode);

    public static string RepoRoot { get; } = FindRoot();

    public static JsonObject Json => Decoded.Value;

    public static JsonObject Resource(string logicalId) => Json["Resources"]![logicalId]!.AsObject();

    public static string Handler(string logicalId) => (string)Resource(logicalId)["Properties"]!["Handler"]!;

    /// <summary>An EventBridge rule's event pattern with ${AWS::StackName} and parameters (their defaults) resolved.</summary>
    public static JsonObject RulePattern(string stackName, string function = "JobStateChangeFunction", string eventName = "BatchJobStateChange")
    {
        var pattern = Resource(function)["Properties"]!["Events"]![eventName]!["Properties"]!["Pattern"]!.DeepClone();
        return (JsonObject)Resolve(pattern, stackName)!;
    }

    /// <summary>
    /// Loads a handler the way the managed dotnet runtime does: "Assembly::Namespace.Type::Method", one instance,
    /// a Task&lt;Stream&gt; Method(Stream).
    /// </summary>
    public static Func<Stream, Task<Stream>> LoadHandler(string logicalId)
    {
        var parts = Handler(logicalId).Split("::");
        Assert.Equal(3, parts.Length);
        var type = Assembly.Load(parts[0]).GetType(parts[1], throwOnError: true)!;
        var method = type.GetMethod(parts[2], [typeof(Stream)]) ?? throw new MissingMethodException(parts[1], parts[2]);
        Assert.Equal(typeof(Task<Stream>), method.ReturnType);
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

    private static JsonObject Decode()
    {
        var start = new ProcessStartInfo("python3",
            ["-c", "import json,sys\nfrom cfnlint.decode import decode\nt,m=decode(sys.argv[1])\nassert t is not None, m\nprint(json.dumps(t, default=str))", Path.Combine(RepoRoot, "template.yaml")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"cfn-lint could not decode template.yaml: {error}");
        return JsonNode.Parse(output)!.AsObject();
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "template.yaml")))
            {
                return dir.FullName;
            }
        }
        throw new DirectoryNotFoundException("template.yaml not found above " + AppContext.BaseDirectory);
    }
}
