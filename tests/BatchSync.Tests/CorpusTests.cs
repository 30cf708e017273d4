using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using BatchSync.Domain;

namespace BatchSync.Tests;

/// <summary>
/// The bad-input corpus (Corpus/*.json): every case must end in its named error, submit nothing and change no record.
/// A failure is either reported through the task token or thrown as a BatchSyncException, whose type name a state
/// machine can Catch; no other exception type may escape.
/// </summary>
[Collection(LogCapture.Collection)]
public partial class CorpusTests
{
    private static JsonArray Cases(string file) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Corpus", file)))!["cases"]!.AsArray();

    public static TheoryData<string> Names(string file) => new(Cases(file).Select(c => (string)c!["name"]!));

    private static JsonNode Case(string file, string name) => Cases(file).Single(c => (string)c!["name"]! == name)!;

    /// <summary>{{repeat:C:N}} → N copies of C; {{tags:N}} → N tag entries; {{nest:N}} → N nested arrays.</summary>
    public static byte[] Payload(JsonNode c)
    {
        if (c["payloadBase64"] is { } b64)
        {
            return Convert.FromBase64String((string)b64!);
        }
        var text = TemplatePattern().Replace((string)c["payload"]!, m => m.Groups[1].Value switch
        {
            "repeat" => string.Concat(Enumerable.Repeat(m.Groups[2].Value, int.Parse(m.Groups[3].Value))),
            "tags" => string.Join(",", Enumerable.Range(0, int.Parse(m.Groups[2].Value)).Select(i => $"\"t{i}\":\"v\"")),
            "nest" => new string('[', int.Parse(m.Groups[2].Value)) + new string(']', int.Parse(m.Groups[2].Value)),
            var other => throw new InvalidOperationException($"unknown corpus template {other}"),
        });
        return Encoding.UTF8.GetBytes(text);
    }

    [GeneratedRegex(@"\{\{(repeat|tags|nest):([^:}]*)(?::(\d+))?\}\}")]
    private static partial Regex TemplatePattern();

    [Fact]
    public void The_corpus_is_as_large_as_promised()
    {
        Assert.True(Cases("submit-job.json").Count >= 50);
        Assert.True(Cases("callback.json").Count + Cases("job-state-change.json").Count >= 30);
    }

    public static TheoryData<string> SubmitCases() => Names("submit-job.json");

    [Theory]
    [MemberData(nameof(SubmitCases))]
    public async Task Bad_SubmitJob_payloads(string name)
    {
        var c = Case("submit-job.json", name);
        var world = new FakeWorld();
        string error, message;
        if ((bool)c["tokenReported"]!)
        {
            var answer = await world.Submitter().SubmitAsync(Payload(c));
            var sent = Assert.Single(world.StepFunctions.Sent);
            Assert.Equal("SendTaskFailure", sent.Operation);
            (error, message) = (sent.Error!, sent.Cause!);
            Assert.Equal(error, answer.Error);
        }
        else
        {
            var thrown = await Assert.ThrowsAnyAsync<BatchSyncException>(() => world.Submitter().SubmitAsync(Payload(c)));
            (error, message) = (thrown.ErrorName, thrown.Message);
            Assert.Empty(world.StepFunctions.Sent);
        }
        Assert.Equal((string)c["error"]!, error);
        Assert.Contains((string)c["message"]!, message);
        Assert.Empty(world.Batch.Submitted);
        // With a token, the task's record is kept, ended, so that a re-invocation answers nothing a second time.
        Assert.All(world.Store.Records.Values, r => Assert.Equal((RecordStatus.Failed, null), (r.Status, r.JobId)));
        Assert.Equal((bool)c["tokenReported"]! ? 1 : 0, world.Store.Records.Count);
        Assert.True(message.Length <= Domain.StepFunctionsLimits.CauseChars);
    }

    public static TheoryData<string> CallbackCases() => Names("callback.json");

    [Theory]
    [MemberData(nameof(CallbackCases))]
    public async Task Bad_Callback_requests(string name)
    {
        var c = Case("callback.json", name);
        var world = new FakeWorld();
        world.Store.Records["k1"] = new TaskRecord { TaskKey = "k1", TaskToken = "t1", Status = RecordStatus.Submitted, JobId = "job-1" };
        world.Store.Records["k2"] = new TaskRecord { TaskKey = "k2", TaskToken = "t2", Status = RecordStatus.Succeeded, JobId = "job-finished" };
        var before = world.Store.Records.ToDictionary();

        var thrown = await Assert.ThrowsAnyAsync<BatchSyncException>(() => world.Callbacks().HandleAsync(Payload(c)));

        Assert.Equal((string)c["error"]!, thrown.ErrorName);
        Assert.Contains((string)c["message"]!, thrown.Message);
        Assert.Empty(world.StepFunctions.Sent);
        Assert.Equal(before, world.Store.Records);
    }

    public static TheoryData<string> EventCases() => Names("job-state-change.json");

    [Theory]
    [MemberData(nameof(EventCases))]
    public async Task Bad_job_state_change_events(string name)
    {
        var c = Case("job-state-change.json", name);
        var world = new FakeWorld();
        world.Store.Records["k1"] = new TaskRecord { TaskKey = "k1", TaskToken = "t1", Status = RecordStatus.Submitted, JobId = "job-1" };
        var before = world.Store.Records.ToDictionary();

        var thrown = await Assert.ThrowsAnyAsync<BatchSyncException>(() => world.Events().HandleAsync(Payload(c)));

        Assert.Equal((string)c["error"]!, thrown.ErrorName);
        Assert.Contains((string)c["message"]!, thrown.Message);
        Assert.Empty(world.StepFunctions.Sent);
        Assert.Empty(world.Batch.Terminated);
        Assert.Equal(before, world.Store.Records);
    }
}
