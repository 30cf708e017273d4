using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BatchSync.Domain;
using BatchSync.Mapping;

namespace BatchSync.Tests;

/// <summary>
/// The budget as the writer applies it. Jobs are built in their native form by hand and sent through the writer in
/// their wire form (the model's inverse), so the expected answers never come from the code under test.
/// </summary>
public class OutputBudgetTests
{
    private static JsonElement Wire(JsonObject native) =>
        JsonDocument.Parse(NativeOutputMapperTests.WireFromNative(native, "JobDetail")!.ToJsonString()).RootElement.Clone();

    private static string FitOutput(JsonObject native, string? resultJson = null) =>
        NativeOutputMapper.ToNativeText(Wire(native), OutputBudget.Output, resultJson);

    private static string FitCause(JsonObject native, int maxChars = StepFunctionsLimits.CauseChars) =>
        NativeOutputMapper.ToNativeText(Wire(native), new OutputLimit(maxChars, CountsChars: true));

    private static JsonObject BigJob(int envEntries, int attempts = 3)
    {
        var env = new JsonArray();
        for (var i = 0; i < envEntries; i++)
        {
            env.Add(new JsonObject { ["Name"] = $"VAR_{i}", ["Value"] = new string('v', 200) });
        }
        var attemptList = new JsonArray();
        for (var i = 0; i < attempts; i++)
        {
            attemptList.Add(new JsonObject { ["StartedAt"] = 1000 + i, ["StatusReason"] = $"attempt {i}" });
        }
        return new JsonObject
        {
            ["Attempts"] = attemptList,
            ["Container"] = new JsonObject { ["Environment"] = env },
            ["JobArn"] = "arn:aws:batch:us-east-1:1:job/abc",
            ["JobId"] = "abc",
            ["JobName"] = "big",
            ["Parameters"] = new JsonObject { ["p"] = new string('p', 5000) },
            ["Status"] = "FAILED",
            ["StatusReason"] = "Essential container in task exited",
        };
    }

    [Fact]
    public void Small_outputs_pass_unchanged()
    {
        var job = BigJob(2);
        Assert.Equal(JsonText.ToText(job), FitOutput(job));
        Assert.Equal(JsonText.ToText(job), FitCause(job));
    }

    [Fact]
    public void A_too_large_cause_is_shrunk_deterministically_keeping_identity_and_latest_attempt()
    {
        var job = BigJob(400);
        Assert.True(JsonText.ToText(job).Length > StepFunctionsLimits.CauseChars);

        var cause = FitCause(job);

        Assert.True(cause.Length <= StepFunctionsLimits.CauseChars);
        Assert.Equal(cause, FitCause(BigJob(400)));
        var parsed = JsonNode.Parse(cause)!.AsObject();
        Assert.Equal("abc", (string)parsed["JobId"]!);
        Assert.Equal("big", (string)parsed["JobName"]!);
        Assert.Equal("FAILED", (string)parsed["Status"]!);
        Assert.Equal("Essential container in task exited", (string)parsed["StatusReason"]!);
        Assert.Equal("attempt 2", (string)parsed["Attempts"]!.AsArray().Single()!["StatusReason"]!);
        Assert.Null(parsed["Container"]);
        Assert.NotNull(parsed["Parameters"]);
        Assert.Equal("""["Attempts (all but the latest)","Container"]""", parsed["BatchSyncOmitted"]!.ToJsonString());
    }

    [Fact]
    public void A_too_large_output_is_measured_in_UTF8_bytes()
    {
        var job = BigJob(2);
        job["Container"]!["Environment"]![0]!["Value"] = new string('é', 140_000);
        Assert.True(JsonText.ToText(job).Length < StepFunctionsLimits.OutputBytes);

        var output = FitOutput(job);

        Assert.True(Encoding.UTF8.GetByteCount(output) <= StepFunctionsLimits.OutputBytes);
        Assert.Null(JsonNode.Parse(output)!["Container"]);
    }

    [Fact]
    public void Result_is_kept_while_bulky_members_go()
    {
        var output = FitOutput(BigJob(1000), $$"""{"data":"{{new string('r', 200_000)}}"}""");
        Assert.True(Encoding.UTF8.GetByteCount(output) <= StepFunctionsLimits.OutputBytes);
        Assert.Equal(200_000, ((string)JsonNode.Parse(output)!["Result"]!["data"]!).Length);
    }

    [Fact]
    public void Even_oversized_kept_members_end_in_valid_json_within_the_limit()
    {
        var job = BigJob(1);
        job["StatusReason"] = new string('s', 100_000);
        var cause = FitCause(job);
        Assert.True(cause.Length <= StepFunctionsLimits.CauseChars);
        var parsed = JsonNode.Parse(cause)!;
        Assert.Equal("abc", (string)parsed["JobId"]!);
        Assert.Equal(256, ((string)parsed["StatusReason"]!).Length);

        job["JobId"] = new string('i', 40_000);
        var minimal = FitCause(job, maxChars: 50_000);
        Assert.NotNull(JsonNode.Parse(minimal));
    }

    private static (string Cause, JsonElement Wire) RealFailure()
    {
        var cause = (string)Fixtures.Node("native-sync/failed-error-cause.json")["Cause"]!;
        return (cause, JsonDocument.Parse(NativeOutputMapperTests.WireFromNative(JsonNode.Parse(cause), "JobDetail")!.ToJsonString()).RootElement.Clone());
    }

    /// <summary>The native form without the named members, and the note naming them last.</summary>
    private static string Without(string native, params string[] omitted)
    {
        var o = JsonNode.Parse(native)!.AsObject();
        Assert.Equal(native, JsonText.ToText(o)); // the test's own serializer reproduces the native text
        foreach (var name in omitted)
        {
            Assert.True(o.Remove(name), name);
        }
        o[OutputBudget.OmittedMember] = new JsonArray([.. omitted.Select(n => (JsonNode?)n)]);
        return JsonText.ToText(o);
    }

    [Fact]
    public void A_real_cause_over_the_limit_loses_its_bulkiest_members_first_and_nothing_else()
    {
        var (cause, wire) = RealFailure();
        Assert.Equal(2394, cause.Length);
        // By size of their values in the real cause: Container 1,369 characters, JobDefinition 95, JobQueue 86.
        Assert.Equal(Without(cause, "Container"), NativeOutputMapper.ToNativeText(wire, new OutputLimit(2000, CountsChars: true)));
        Assert.Equal(Without(cause, "Container", "JobDefinition"), NativeOutputMapper.ToNativeText(wire, new OutputLimit(1000, CountsChars: true)));
        Assert.Equal(Without(cause, "Container", "JobDefinition"), NativeOutputMapper.ToNativeText(wire, new OutputLimit(Without(cause, "Container", "JobDefinition").Length, CountsChars: true)));
        Assert.Equal(Without(cause, "Container", "JobDefinition", "JobQueue"),
            NativeOutputMapper.ToNativeText(wire, new OutputLimit(Without(cause, "Container", "JobDefinition").Length - 1, CountsChars: true)));
        Assert.Equal(cause, NativeOutputMapper.ToNativeText(wire, new OutputLimit(cause.Length, CountsChars: true)));
    }

    [Fact]
    public void A_real_job_over_the_limit_keeps_its_latest_attempt_first()
    {
        var detail = Fixtures.Element("failed-jobs/host-terminated-then-succeeded-adapted.json");
        var native = NativeOutputMapper.ToNativeText(detail, OutputBudget.Output);
        var latestOnly = JsonNode.Parse(native)!.AsObject();
        var attempts = latestOnly["Attempts"]!.AsArray();
        Assert.Equal(2, attempts.Count);
        latestOnly["Attempts"] = new JsonArray(attempts[1]!.DeepClone());
        latestOnly[OutputBudget.OmittedMember] = new JsonArray("Attempts (all but the latest)");
        var expected = JsonText.ToText(latestOnly);
        Assert.Contains("Essential container in task exited", JsonText.ToText(latestOnly["Attempts"]!));

        Assert.Equal(expected, NativeOutputMapper.ToNativeText(detail, new OutputLimit(Encoding.UTF8.GetByteCount(expected), CountsChars: false)));
        Assert.NotEqual(expected, NativeOutputMapper.ToNativeText(detail, new OutputLimit(Encoding.UTF8.GetByteCount(expected) - 1, CountsChars: false)));
    }

    public static TheoryData<string> RealJobs() => new(Fixtures.BatchEvents().Concat(
        Directory.GetFiles(Fixtures.PathOf("failed-jobs"), "*-adapted.json").Select(f => Path.Combine("failed-jobs", Path.GetFileName(f))).Order()));

    /// <summary>
    /// At every limit, on real jobs: the answer fits (or is the minimal identity), keeps the identity members, names
    /// every member it left out, and every member it kept is byte for byte the native one (Attempts: all of them, or the
    /// latest one when the note says so).
    /// </summary>
    [Theory]
    [MemberData(nameof(RealJobs))]
    public void At_any_limit_a_real_job_fits_and_what_it_keeps_is_native(string fixture)
    {
        var detail = fixture.StartsWith("batch-events", StringComparison.Ordinal) ? Fixtures.Element(fixture).GetProperty("detail") : Fixtures.Element(fixture);
        var nativeText = NativeOutputMapper.ToNativeText(detail, OutputBudget.Output);
        var native = JsonNode.Parse(nativeText)!.AsObject();
        foreach (var countsChars in new[] { true, false })
        {
            for (var limit = 40; limit <= nativeText.Length + 1; limit += 7)
            {
                var text = NativeOutputMapper.ToNativeText(detail, new OutputLimit(limit, countsChars));
                var answer = JsonNode.Parse(text)!.AsObject();
                var note = answer[OutputBudget.OmittedMember]?.AsArray().Select(n => (string)n!).ToList() ?? [];
                if (note.SequenceEqual(["everything else"]))
                {
                    Assert.Equal(["JobId", "Status", OutputBudget.OmittedMember], answer.Select(p => p.Key));
                }
                else
                {
                    Assert.True((countsChars ? text.Length : Encoding.UTF8.GetByteCount(text)) <= limit, $"{limit}: {text}");
                }
                if (limit >= (countsChars ? nativeText.Length : Encoding.UTF8.GetByteCount(nativeText)))
                {
                    Assert.Equal(nativeText, text);
                }
                Assert.Equal(native["JobId"]!.ToJsonString(), answer["JobId"]!.ToJsonString());
                foreach (var (name, value) in native)
                {
                    if (answer[name] is not { } kept)
                    {
                        Assert.True(note.Contains(name) || note.Contains("everything else"), $"{limit}: {name} left out, not named");
                    }
                    else if (name == "Attempts" && note.Contains("Attempts (all but the latest)"))
                    {
                        Assert.Equal(new JsonArray(value!.AsArray()[^1]!.DeepClone()).ToJsonString(), kept.ToJsonString());
                    }
                    else if (!(name is "StatusReason" or "JobName" && ((string)kept!).EndsWith('…')))
                    {
                        Assert.Equal(value!.ToJsonString(), kept.ToJsonString());
                    }
                }
                Assert.Equal(answer.Select(p => p.Key).Where(n => n != OutputBudget.OmittedMember).Order(StringComparer.Ordinal),
                    answer.Select(p => p.Key).Where(n => n != OutputBudget.OmittedMember));
            }
        }
    }

    [Fact]
    public void Clip_marks_the_cut()
    {
        Assert.Equal("abc", StepFunctionsLimits.Clip("abc", 3));
        Assert.Equal("ab…", StepFunctionsLimits.Clip("abcd", 3));
    }
}
