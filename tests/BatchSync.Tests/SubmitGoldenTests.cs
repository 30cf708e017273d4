using System.Text;
using System.Text.Json.Nodes;
using BatchSync.Domain;
using BatchSync.Mapping;

namespace BatchSync.Tests;

/// <summary>
/// Pins SubmitJob's mapping byte for byte: every bad-input corpus case, the sample events and a set of valid variants,
/// each mapped with a marker, give exactly the request bytes or problem text recorded in Golden/submit-mapping.txt.
/// The file was written by this test (BATCHSYNC_WRITE_GOLDEN=1) before a refactoring; a refactoring must not change it.
/// </summary>
public class SubmitGoldenTests
{
    private static readonly string GoldenFile = Path.Combine(RepoRoot(), "tests", "BatchSync.Tests", "Golden", "submit-mapping.txt");

    private static IEnumerable<(string Name, byte[] Payload)> Inputs()
    {
        foreach (var c in JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Corpus", "submit-job.json")))!["cases"]!.AsArray())
        {
            yield return ($"corpus: {(string)c!["name"]!}", CorpusTests.Payload(c));
        }
        foreach (var file in Directory.GetFiles(Path.Combine(RepoRoot(), "events"), "submit-job*.json").Order(StringComparer.Ordinal))
        {
            yield return ($"events: {Path.GetFileName(file)}", File.ReadAllBytes(file));
        }
        const string token = "\"TaskToken\":\"AQCEAAAAKgAAAAMAAAAAAAAAAgolden\"";
        const string basics = "\"JobName\":\"j\",\"JobQueue\":\"q\",\"JobDefinition\":\"d\"";
        var variants = new Dictionary<string, string>
        {
            ["no Parameters"] = $"{{{basics},{token}}}",
            ["empty Parameters"] = $"{{{basics},\"Parameters\":{{}},{token}}}",
            ["Parameters, token after them"] = $"{{{basics},\"Parameters\":{{\"a\":\"1\",\"b\":\"2\"}},{token}}}",
            ["token first"] = $"{{{token},{basics},\"Parameters\":{{\"a\":\"1\"}}}}",
            ["ContainerOverrides without Environment"] = $"{{{basics},\"ContainerOverrides\":{{\"Command\":[\"echo\",\"hi\"]}},{token}}}",
            ["ContainerOverrides with Environment"] = $"{{{basics},\"ContainerOverrides\":{{\"Environment\":[{{\"Name\":\"A\",\"Value\":\"1\"}}]}},{token}}}",
            ["ContainerOverrides with MANAGED_BY_AWS"] = $"{{{basics},\"ContainerOverrides\":{{\"Environment\":[{{\"Name\":\"MANAGED_BY_AWS\",\"Value\":\"x\"}}]}},{token}}}",
            ["everything optional"] = $"{{{basics},\"ArrayProperties\":{{\"Size\":3}},\"RetryStrategy\":{{\"Attempts\":2}},\"Timeout\":{{\"AttemptDurationSeconds\":600}},\"Tags\":{{\"k\":\"v\"}},\"PropagateTags\":true,\"SchedulingPriorityOverride\":5,\"ShareIdentifier\":\"s\",\"ExecutionArn\":\"arn:aws:states:us-east-1:123456789012:execution:m:e\",\"StateName\":\"Run\",\"TimeoutSeconds\":3600,{token}}}",
            ["opt-in extras"] = $"{{{basics},\"BatchSync\":{{\"TypedErrors\":true,\"Links\":true,\"LogTail\":20,\"ArraySummary\":true}},{token}}}",
            ["overrides too long and request too large"] = $"{{{basics},\"ContainerOverrides\":{{\"Command\":[\"{new string('x', 9000)}\"]}},\"Parameters\":{{\"p\":\"{new string('y', 31000)}\"}},{token}}}",
            ["no token"] = $"{{{basics},\"Parameters\":{{\"a\":\"1\"}}}}",
        };
        foreach (var (name, json) in variants)
        {
            yield return ($"variant: {name}", Encoding.UTF8.GetBytes(json));
        }
    }

    private static string Describe(SubmitMapping mapping)
    {
        var request = mapping.Request is { } r
            ? $"{Convert.ToBase64String(r.Body)} job={r.JobName} queue={r.JobQueue} execution={r.ExecutionArn} state={r.StateName} options={r.Options} timeout={r.TimeoutSeconds}"
            : "no request";
        return $"token={mapping.TaskToken} | {request} | problems={InputProblem.Describe(mapping.Problems)}";
    }

    // The marker as JobSubmitter puts it in: from the token, only when there is one.
    private static SubmitMapping Mapped(ReadOnlyMemory<byte> payload)
    {
        var draft = SubmitRequestMapper.Read(payload);
        return draft.WithMarker(draft.TaskToken is { } token ? $"golden:{token.Length}" : null);
    }

    private static List<string> Lines() =>
        Inputs().Select(input => $"{input.Name}\t{Describe(Mapped(input.Payload))}").ToList();

    [Fact]
    public void Every_payload_maps_to_the_recorded_bytes_and_problems()
    {
        var lines = Lines();
        if (Environment.GetEnvironmentVariable("BATCHSYNC_WRITE_GOLDEN") == "1")
        {
            File.WriteAllLines(GoldenFile, lines);
        }
        var recorded = File.ReadAllLines(GoldenFile);
        Assert.True(recorded.Length >= 40, "the golden file has every corpus case and variant");
        Assert.Equal(recorded.Length, lines.Count);
        for (var i = 0; i < lines.Count; i++)
        {
            Assert.Equal(recorded[i], lines[i]);
        }
    }

    internal static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Functions.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("Functions.sln not found above the test's directory");
    }
}
