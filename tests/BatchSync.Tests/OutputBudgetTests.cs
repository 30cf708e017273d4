using System.Text;
using System.Text.Json.Nodes;
using BatchSync.Mapping;

namespace BatchSync.Tests;

public class OutputBudgetTests
{
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
        Assert.Equal(JsonText.ToText(job), OutputBudget.FitOutput(job));
        Assert.Equal(JsonText.ToText(job), OutputBudget.FitCause(job));
    }

    [Fact]
    public void A_too_large_cause_is_shrunk_deterministically_keeping_identity_and_latest_attempt()
    {
        var job = BigJob(400);
        Assert.True(JsonText.ToText(job).Length > OutputBudget.MaxCauseChars);

        var cause = OutputBudget.FitCause(job);

        Assert.True(cause.Length <= OutputBudget.MaxCauseChars);
        Assert.Equal(cause, OutputBudget.FitCause(BigJob(400)));
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
        Assert.True(JsonText.ToText(job).Length < OutputBudget.MaxOutputBytes);

        var output = OutputBudget.FitOutput(job);

        Assert.True(Encoding.UTF8.GetByteCount(output) <= OutputBudget.MaxOutputBytes);
        Assert.Null(JsonNode.Parse(output)!["Container"]);
    }

    [Fact]
    public void Result_is_kept_while_bulky_members_go()
    {
        var job = NativeOutputMapper.WithResult(BigJob(1000), JsonNode.Parse($$"""{"data":"{{new string('r', 200_000)}}"}"""));
        var output = OutputBudget.FitOutput(job);
        Assert.True(Encoding.UTF8.GetByteCount(output) <= OutputBudget.MaxOutputBytes);
        Assert.Equal(200_000, ((string)JsonNode.Parse(output)!["Result"]!["data"]!).Length);
    }

    [Fact]
    public void Even_oversized_kept_members_end_in_valid_json_within_the_limit()
    {
        var job = BigJob(1);
        job["StatusReason"] = new string('s', 100_000);
        var cause = OutputBudget.FitCause(job);
        Assert.True(cause.Length <= OutputBudget.MaxCauseChars);
        var parsed = JsonNode.Parse(cause)!;
        Assert.Equal("abc", (string)parsed["JobId"]!);
        Assert.Equal(256, ((string)parsed["StatusReason"]!).Length);

        job["JobId"] = new string('i', 40_000);
        var minimal = OutputBudget.FitCause(job, maxChars: 50_000);
        Assert.NotNull(JsonNode.Parse(minimal));
    }

    [Fact]
    public void Clip_marks_the_cut()
    {
        Assert.Equal("abc", OutputBudget.Clip("abc", 3));
        Assert.Equal("ab…", OutputBudget.Clip("abcd", 3));
    }
}
