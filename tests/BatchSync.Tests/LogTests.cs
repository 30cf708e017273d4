using System.Text.Json;
using BatchSync.Logging;

namespace BatchSync.Tests;

[Collection(LogCapture.Collection)]
public class LogTests
{
    [Fact]
    public void Lines_are_json_with_the_template_and_named_values()
    {
        var text = LogCapture.Capture(() => Log.Info("Job {JobId} took {Seconds} s", "job-1", 12L));
        var line = JsonDocument.Parse(text).RootElement;
        Assert.Equal("INFO", line.GetProperty("level").GetString());
        Assert.Equal("Job job-1 took 12 s", line.GetProperty("message").GetString());
        Assert.Equal("Job {JobId} took {Seconds} s", line.GetProperty("messageTemplate").GetString());
        Assert.Equal("job-1", line.GetProperty("JobId").GetString());
        Assert.Equal(12, line.GetProperty("Seconds").GetInt64());
    }

    [Fact]
    public void Long_values_are_clipped_and_errors_named()
    {
        var text = LogCapture.Capture(() => Log.Error(new InvalidOperationException("boom"), "Failed {What}", new string('x', 5000)));
        var line = JsonDocument.Parse(text).RootElement;
        Assert.True(line.GetProperty("What").GetString()!.Length < 600);
        Assert.Equal("InvalidOperationException", line.GetProperty("errorType").GetString());
    }

    [Fact]
    public async Task No_log_line_of_a_whole_submit_event_and_callback_flow_holds_the_task_token()
    {
        const string token = "AQCEAAAAKgAAAAMAAAAAAAAAAsecret-token-never-logged";
        var world = new FakeWorld();
        var previous = Log.Sink;
        var sink = new StringWriter();
        Log.Sink = sink;
        try
        {
            await world.Submitter().SubmitAsync(Fixtures.Utf8($$"""{"JobName":"j","JobQueue":"q","JobDefinition":"d","TaskToken":"{{token}}"}"""));
            await world.Submitter().SubmitAsync(Fixtures.Utf8($$"""{"JobName":"j","JobQue":"q","JobDefinition":"d","TaskToken":"{{token}}"}"""));
            var marker = Domain.TaskKey.Marker(FakeWorld.Namespace, Domain.TaskKey.For(token));
            await world.Callbacks().HandleAsync(Fixtures.Utf8("""{"JobId":"job-1","Heartbeat":true}"""));
            await world.Events().HandleAsync(FakeWorld.Event("job-1", "RUNNING", marker));
            await world.Events().HandleAsync(FakeWorld.Event("job-1", "SUCCEEDED", marker));
            world.StepFunctions.Answer = Domain.TaskReply.InvalidToken;
            await world.Submitter().SubmitAsync(Fixtures.Utf8($$"""{"JobName":"j","TaskToken":"{{token}}x"}"""));
        }
        finally
        {
            Log.Sink = previous;
        }
        var logs = sink.ToString();
        Assert.Contains("Submitted job job-1", logs);
        Assert.DoesNotContain("secret-token", logs);
    }
}
